"""The code that runs inside the sandboxes, apart from the host's and the launcher's.

Never imported: program.py reads these files as text and the sandboxed interpreter runs each side as
`python -I -S -u -c <plain_data.py + the side>`, with no evalkit package in sight, so they use the
standard library only and share nothing with the host but the plain-data encoding of plain_data.py.

    tests_side.py      the tests' side of a tested run: calls the candidate, decides the verdict
    candidate_side.py  the candidate's side: runs the candidate's code, answers the calls
    plain_data.py      the only values the two sides exchange (encode, decode)
"""
