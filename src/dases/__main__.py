from dases.cli import main

main()
