"""Test doubles of the providers kindreg's program uses, with one rule set for every level."""
