"""Marketplace billing core: domain, store, services and api, shared by every function."""
