"""The outside world behind small interfaces: Docker engine, mkcert, skopeo, ORAS, files."""
