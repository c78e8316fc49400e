from ragq.producer.cli import main

main()
