"""Pulumi components: each translates part of a resolved kindreg plan into resources."""
