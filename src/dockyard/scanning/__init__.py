"""Vulnerability scanning and SBOMs: the scanner-adapter API both ways, and a scanner of our own."""
