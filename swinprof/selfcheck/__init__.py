"""`swinprof selfcheck`: every user-facing code path run once, end to end, with one report of the outcome.

`registry` holds the paths (one small function each, registered with its name, devices and requirements),
`paths` the small-size ones, `headline` the full-size GPU numbers, `context` how a path runs a command under
its time limit, `reading` how key figures are read from a command's json, `runner` the loop and the Report,
`summary` README's "Verified on" table from committed reports.
"""
