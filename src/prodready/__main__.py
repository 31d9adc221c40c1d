from prodready.cli import main

main()
