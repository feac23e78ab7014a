from ets.cli import main

main()
