"""Command line: ``python -m src {generate,data,convert-toptag,train,score,book,bench}``.

Errors are printed as one line on standard error with exit status 2; SIGTERM ends a command
like an interrupt (exit 143), keeping every completed file and taking its workers along.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .config import PROCESSES, PROFILES, get_profile
from .data.detector import DETECTORS


class _Parser(argparse.ArgumentParser):
    """Argument errors as one ``error:`` line (no usage block), exit status 2."""

    def error(self, message: str) -> None:
        self.exit(2, f"error: {message} (see python -m src {self.prog.split()[-1]} --help)\n")


def _count(minimum: int):
    """argparse type: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m src", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = sub.add_parser("generate", help="generate one jet sample with Pythia 8 + FastJet")
    gen.add_argument("--process", required=True, help=f"one of {', '.join(PROCESSES)}")
    gen.add_argument("--n", type=_count(1), required=True, help="number of accepted jets")
    gen.add_argument("--out", type=Path, required=True, help="output HDF5 file")
    gen.add_argument("--seed", type=_count(0), default=1)
    gen.add_argument("--workers", type=_count(1), default=2, help="local worker processes")
    gen.add_argument("--scheduler", help="dask.distributed scheduler address (instead of local)")
    gen.add_argument("--shard-size", type=_count(1), default=2000, help="jets per shard")
    gen.add_argument("--detector", default="eflow", help=f"one of {', '.join(DETECTORS)}")

    data = sub.add_parser("data", help="generate every sample of a profile (cached)")
    data.add_argument("--profile", default="default", help=f"one of {', '.join(PROFILES)}")

    conv = sub.add_parser("convert-toptag", help="convert the Top Tagging reference format")
    conv.add_argument("source", type=Path)
    conv.add_argument("--out", type=Path, required=True)
    conv.add_argument("--skip-empty", action="store_true",
                      help="leave out jets without constituents (counted in the file)")

    train = sub.add_parser("train", help="train (or load, when cached) models of a profile")
    train.add_argument("--profile", default="default", help=f"one of {', '.join(PROFILES)}")
    train.add_argument("--model", nargs="+",
                       help="models to train (default: all of jointvae, ae, vae, classifier, "
                            "jointvae_top, recommended, recommended_top)")

    score = sub.add_parser("score", help="anomaly scores of every image in a file, as CSV")
    score.add_argument("--model", type=Path, required=True, help="saved model folder")
    score.add_argument("--input", type=Path, required=True,
                       help="schema-1 HDF5 jet file (with constituents and jet axes for a "
                            "student of window images)")
    score.add_argument("--output", type=Path, required=True, help="CSV file to write")
    score.add_argument("--batch-size", type=_count(1), default=1024)
    score.add_argument("--firmware", action="store_true",
                       help="score through the bit-accurate emulation of the model's firmware "
                            "(a student or a quantized joint VAE encoder)")

    book = sub.add_parser("book", help="execute the notebooks and build the HTML book")
    book.add_argument("--profile", default="default", help=f"one of {', '.join(PROFILES)}")
    book.add_argument("--no-execute", action="store_true", help="render committed notebooks")
    book.add_argument("--only", nargs="+", help="execute only these chapters")

    bench = sub.add_parser("bench", help="benchmarks; writes bench/results.{json,md}")
    bench.add_argument("--out", type=Path, default=Path("bench"))
    bench.add_argument("--jets", type=_count(1), default=2000,
                       help="jets per generation benchmark")
    return parser


# Commands import their step of the study only when they run, so that `--help` and a
# mistyped argument answer at once instead of after TensorFlow has loaded.

def _generate(args: argparse.Namespace) -> None:
    from .data.generate import GenerationSettings
    from .data.samples import generate

    settings = GenerationSettings(process=args.process, n_jets=args.n, seed=args.seed,
                                  shard_size=args.shard_size, detector=args.detector)
    stats = generate(settings, args.out, workers=args.workers, scheduler=args.scheduler)
    print(f"wrote {args.out}: {settings.n_jets} {settings.process} jets"
          f" ({stats['events']} events generated in this run)")


def _data(args: argparse.Namespace) -> None:
    from .data.samples import ensure_sample

    profile = get_profile(args.profile)
    for process in profile.n_jets:
        print(f"[data] {process}: {ensure_sample(profile, process)}", flush=True)


def _convert(args: argparse.Namespace) -> None:
    from .data.toptag import convert_toptag

    counts = convert_toptag(args.source, args.out, skip_empty=args.skip_empty)
    skipped = (f"; skipped {counts['skipped_empty']} jet(s) without constituents"
               if counts["skipped_empty"] else "")
    print(f"wrote {args.out}: {counts['jets']} jets{skipped}")


def _train(args: argparse.Namespace) -> None:
    from .config import models_dir
    from .models.registry import RECIPES, trained
    from .models.store import read_record

    profile = get_profile(args.profile)
    names = args.model or list(RECIPES)
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; known: {', '.join(RECIPES)}")
    for name in names:
        print(f"[train] {name}: {RECIPES[name].description}", flush=True)
        trained(profile, name, verbose=2)
        seconds = read_record(models_dir(profile) / name).get("train_seconds")
        print(f"[train] {name}: {models_dir(profile) / name} (trained in {seconds} s)", flush=True)


def _score(args: argparse.Namespace) -> None:
    from .analysis.anomaly import score_model
    from .data.datasets import read_unit_sum, read_window_images
    from .files import atomic_file, check_output
    from .models.store import load

    check_output(args.output, inputs=[args.input])
    model = load(args.model, history=False)
    window = getattr(model.spec, "inputs", "standard") == "window"
    images = (read_window_images if window else read_unit_sum)(args.input)
    if args.firmware:
        from .fpga.exact import firmware_scores

        frame = firmware_scores(model, args.model, images, progress=True)
    else:
        frame = score_model(model, images, batch_size=args.batch_size, progress=True)
    with atomic_file(args.output) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.8g")
    print(f"wrote {args.output}: {len(frame)} rows, columns {', '.join(frame.columns)}")


def _book(args: argparse.Namespace) -> None:
    from .book import build

    index = build(args.profile, execute=not args.no_execute, only=args.only)
    print(f"[book] done: {index}")


def _bench(args: argparse.Namespace) -> None:
    from .bench import run

    run(args.out, n_jets=args.jets)


COMMANDS = {"generate": _generate, "data": _data, "convert-toptag": _convert, "train": _train,
            "score": _score, "book": _book, "bench": _bench}


class _Terminated(Exception):
    """SIGTERM, raised in the main thread so that cleanup runs as for an interrupt."""


def _terminate(signum: int, frame) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, RuntimeError, KeyError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, _Terminated) as exc:
        print("interrupted: completed shards and files are kept; run again to resume",
              file=sys.stderr)
        return 143 if isinstance(exc, _Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
