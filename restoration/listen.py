"""``restoration listen create|results``: blind listening tests from the command line.

``create`` makes a test of files made anywhere (a folder named ``<clip>.<condition>.<ext>``, a zip of
such files, or a CSV manifest; see :mod:`restoration.conditions`), optionally with registry methods
rendered from each clip's source file, into the same SQLite database the app serves
(``python app.py --db DB``). ``results`` prints the statistics of the app's Results tab.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

from .errors import BadInputError

PROTOCOL_CHOICES = ("ab", "abx", "mushra")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="listen_command", required=True, metavar="{create,results}")
    create = sub.add_parser("create", help="make a blind test of your own files (and registry methods)",
                            description="Make a blind test of files named <clip>.<condition>.<ext> "
                                        "(<clip>.reference.<ext> is the clean reference) or listed in a manifest.")
    create.add_argument("--db", required=True, help="listening database (SQLite; created when missing)")
    create.add_argument("--name", required=True, help="name of the test, shown to listeners")
    create.add_argument("--protocol", required=True, choices=PROTOCOL_CHOICES, help="ab, abx or mushra")
    given = create.add_mutually_exclusive_group(required=True)
    given.add_argument("--files", metavar="DIR", help="folder (or .zip) of <clip>.<condition>.<ext> files")
    given.add_argument("--manifest", metavar="CSV", help="CSV with columns clip,condition,path[,reference]")
    create.add_argument("--reference-dir", metavar="REF", help="clean references named <clip>.<ext>")
    create.add_argument("--methods", default="", metavar="M1,M2",
                        help="registry methods or chains (a+b) to render from each clip's source file too")
    create.add_argument("--source", default=None, metavar="CONDITION",
                        help="condition whose file the methods restore (default: input, i.e. <clip>.input.<ext>)")
    create.add_argument("--seconds", type=float, default=None,
                        help="cut every clip to its first SECONDS (default 10; 0 keeps them whole)")
    create.add_argument("--lufs", type=float, default=None, help="playback loudness, LUFS (default -23)")
    create.add_argument("--practice", action="store_true", help="start each listener with an uncounted practice trial")

    results = sub.add_parser("results", help="print the statistics of a test (as the app's Results tab)")
    results.add_argument("--db", required=True, help="listening database (SQLite)")
    results.add_argument("test", help="the test's id or name")
    results.add_argument("--csv", metavar="OUT", help="also write every raw answer to this CSV file")
    results.add_argument("--post-screening", action="store_true",
                         help="MUSHRA: leave out listeners as ITU-R BS.1534-3 says")


def run(args: argparse.Namespace) -> int:
    return {"create": _create, "results": _results}[args.listen_command](args)


def _create(args: argparse.Namespace) -> int:
    from .conditions import collect, describe, extract_zip
    from .listening import ListeningStore, build_test, outside_clips
    from .listening.protocol import PROTOCOLS
    from .listening.render import DEFAULT_LUFS, DEFAULT_SECONDS, DEFAULT_SOURCE

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.source is not None and not methods:
        raise BadInputError("--source names the file the --methods restore; give --methods too")
    with tempfile.TemporaryDirectory(prefix="restoration-listen-") as scratch:
        given = Path(args.manifest or args.files)
        if args.files and given.suffix.lower() == ".zip" and given.is_file():
            extract_zip(given, scratch)
            given = Path(scratch)
        collection = collect(given, reference_dir=args.reference_dir)
        for skipped in collection.skipped:
            print(f"warning: skipped {skipped}", file=sys.stderr)
        clips = outside_clips(collection, source=(args.source or DEFAULT_SOURCE) if methods else None)
        new = not Path(args.db).expanduser().exists()
        store = ListeningStore(args.db)
        try:
            test_id = build_test(store, name=args.name, protocol=args.protocol, clips=clips, methods=methods,
                                 target_lufs=DEFAULT_LUFS if args.lufs is None else args.lufs,
                                 max_seconds=DEFAULT_SECONDS if args.seconds is None else args.seconds,
                                 practice=args.practice)
        except BaseException:
            if new:  # a database this command created for a test that failed: leave nothing behind
                _remove_database(store)
            raise
    trials = len(store.trials(test_id))
    print(f"created test {test_id} ({PROTOCOLS[args.protocol]}): {describe(collection)}"
          + (f"; methods {', '.join(methods)}" if methods else "") + f"; {trials} trial(s) per listener")
    print(f"serve it: python app.py --db {args.db}  (link: http://HOST:PORT/?test={test_id})")
    return 0


def _remove_database(store) -> None:
    """Delete a listening database, its SQLite side files and its media folder."""
    import shutil

    for path in (store.path, *(store.path.with_name(store.path.name + end) for end in ("-wal", "-shm", "-journal"))):
        path.unlink(missing_ok=True)
    shutil.rmtree(store.media_root, ignore_errors=True)


def _results(args: argparse.Namespace) -> int:
    from .listening import ListeningStore, export_csv, summarize
    from .listening.protocol import PROTOCOLS

    if not Path(args.db).expanduser().is_file():
        raise BadInputError(f"no such listening database: {args.db}")
    store = ListeningStore(args.db)
    summary = summarize(store, store.find_test(args.test).id, post_screening=args.post_screening)
    test = summary.test
    print(f"{test.name} ({test.id}): {PROTOCOLS[test.protocol]}, {test.status}; {summary.finished} of "
          f"{summary.listeners} listener(s) finished, {summary.answers} answer(s)")
    for note in summary.notes:
        print(note)
    for title, rows in summary.tables.items():
        print(f"\n{title}")
        print("\n".join(table_lines(rows)))
    if args.csv:
        print(f"\nraw answers: {export_csv(store, test.id, args.csv)}")
    return 0


def table_lines(rows: list[dict]) -> list[str]:
    """Rows of dicts as aligned text columns: p-values to 3 significant digits, other floats to 3
    decimals (as the app's tables), NaN as ``-``; text left-aligned, numbers right-aligned."""
    if not rows:
        return ["(no rows)"]
    columns = list(rows[0])
    cells = [[_cell(column, row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[k]) for line in cells)) for k, column in enumerate(columns)]
    numeric = [all(isinstance(row.get(column), (int, float)) for row in rows) for column in columns]
    return ["  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()
            for values in [columns, *cells]]


def _cell(column: str, value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3g}" if column == "p_value" else f"{value:.3f}"
    return str(value)
