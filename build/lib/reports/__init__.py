"""Reports: report.json assembled on the controller from cell records, the verdict, the matrix,
JUnit, Markdown and HTML, reproducers and their replay, merge and diff, the `python -m reports` CLI.

It reads what `conformance` records and may import any of it; nothing in `conformance` or
`strategies` imports it.
"""
