from swinprof.cli._entry import console

console()
