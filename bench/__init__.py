"""The side-by-side benchmark: dockyard against CNCF Distribution, same workload, one at a time.

Run it with ``python -m bench``; ``bench/README.md`` explains the rows and the options.
"""
