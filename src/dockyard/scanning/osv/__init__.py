"""The scanner's advisory side: OSV records, read, rated, keyed by ecosystem, and matched.

records.py reads dumps; advisories.py turns a record into an Advisory; severity.py rates it on
Harbor's scale; ecosystems.py says which key an advisory and an installed package meet under;
versions.py and matching.py decide whether a version is affected. No database here.
"""
