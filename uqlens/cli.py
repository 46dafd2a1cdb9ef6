"""The ``uqlens`` command line.

One function per subcommand: ``_add_<name>(subparsers)`` declares its arguments and sets
``func`` to ``cmd_<name>(args) -> int``. To add a subcommand (``build``, ``generate``,
``import``, ``export``, ``report``, ...), write that pair and append the ``_add_`` function to
:data:`COMMANDS`. Heavy imports (pandas, models) stay inside the ``cmd_`` functions so that
``uqlens --help`` is instant.

Exit codes: 0 success, 1 invalid input data, 2 usage error, 3 internal error. Bad input never
produces a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

class _Parser(argparse.ArgumentParser):
    """Usage errors raise instead of exiting, so ``main`` can return the code."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise _UsageError


class _UsageError(Exception):
    pass


# ---- validate -------------------------------------------------------------------------------


def _add_validate(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check input files and say which methods their fields enable",
        description="Check generation files (JSONL, CSV, Parquet) against the canonical data "
        "model; print a summary per file, or every problem with its file, record and field.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="input file(s)")
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="drop invalid records instead of failing, and report how many were dropped",
    )
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from uqlens.build.summary import summarise
    from uqlens.data.loaders import load
    from uqlens.data.schema import DataError

    status = EXIT_OK
    for i, name in enumerate(args.files):
        if i:
            print()
        try:
            dataset = load(name, skip_invalid=args.skip_invalid)
        except DataError as exc:
            status = EXIT_DATA
            print(f"{name}: INVALID ({_plural(len(exc.errors), 'problem')})")
            for error in exc.errors:
                print(f"  {error}")
            continue
        except OSError as exc:
            status = EXIT_DATA
            print(f"{name}: cannot read: {exc.strerror or exc}")
            continue
        for line in summarise(dataset):
            print(line)
    return status


def _plural(n: int, word: str) -> str:
    from uqlens.build.summary import plural

    return plural(n, word)


# ---- build ----------------------------------------------------------------------------------


def _add_build(subparsers) -> None:
    p = subparsers.add_parser(
        "build",
        help="cluster, score, judge and project generations into a run folder",
        description="Build a run (Parquet tables + manifest.json) that the dashboard reads. "
        "Model outputs are cached by content, so rebuilding with another rule, threshold, "
        "method set or judge computes no pair twice.",
    )
    p.add_argument("input", nargs="+", metavar="INPUT",
                   help="generations file(s) (JSONL, CSV, Parquet); question ids must differ")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to (re)write")
    p.add_argument("--rule", action="append", metavar="KEY",
                   help="clustering rule, repeatable: exact, embedding:0.9[:average|complete], "
                   "strict@ALIAS, lenient@ALIAS, either@ALIAS, threshold:TAU@ALIAS "
                   "(default: exact, embedding:0.9:average, threshold:0.9@cosine)")
    p.add_argument("--entailment", action="append", metavar="SPEC",
                   help="entailment backend, repeatable: cosine, llm:MODEL.gguf (alias llm), "
                   "nli:NAME_OR_PATH (alias nli), e.g. nli:microsoft/deberta-large-mnli, "
                   "openai:MODEL@BASE_URL (alias openai; an OpenAI-compatible server, e.g. "
                   "openai:qwen2.5:7b@http://localhost:11434/v1)")
    p.add_argument("--embedder", default=None, metavar="NAME_OR_PATH",
                   help="sentence-transformers model (default: the offline all-MiniLM-L6-v2), "
                   "or 'provided': every answer's own `embedding` field, no model")
    p.add_argument("--judge", action="append", metavar="SPEC",
                   help="correctness judge, repeatable: exact_match, squad_f1[:TAU], "
                   "rouge_l[:TAU], embedding_similarity[:TAU], nli_reference@ALIAS, "
                   "llm_reference[:TAU]@ALIAS (ALIAS: an llm or openai backend), program, "
                   "provided")
    p.add_argument("--method", action="append", metavar="ID",
                   help="only these methods (default: every method the data allow)")
    p.add_argument("--sample-temperature", type=float, default=None,
                   help="score only the samples drawn at this temperature")
    p.add_argument("--probe-judge", default=None, metavar="JUDGE",
                   help="judge whose labels the supervised hidden_state_probe learns "
                   "(default: the first --judge)")
    p.add_argument("--projection", choices=("umap", "pca"), default="umap")
    p.add_argument("--graph-backend", default=None, metavar="ALIAS",
                   help="entailment backend whose all-pairs probabilities feed EigV/Deg/Ecc/KLE "
                   "under every rule (default: each rule's own backend)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="rows per NLI model forward pass; pairs of many questions share a "
                   "batch (default 32)")
    p.add_argument("--nli-dtype", choices=("float32", "bfloat16"), default="float32",
                   help="precision of NLI models; bfloat16 is ~3x faster on CPUs with AMX or "
                   "AVX512-BF16, probabilities move by ~1e-3 (default float32)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where embedding, entailment and scoring run: this process, or Ray "
                   "actors and tasks (pip install 'uqlens[ray]'; default local)")
    p.add_argument("--address", default=None, metavar="ADDRESS",
                   help="Ray cluster to join with --engine ray: auto (the cluster this "
                   "machine belongs to), HOST:PORT or ray://HOST:10001 (default: start Ray "
                   "on this machine with all its CPUs)")
    p.add_argument("--no-question", action="store_true",
                   help="do not prepend the question to answers for embeddings and entailment")
    p.add_argument("--cache-dir", default=None, help="model-output cache (default ~/.cache/uqlens)")
    p.add_argument("--name", default="", help="run name shown in the app")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from uqlens.build.pipeline import BuildConfig, BuildError, build
    from uqlens.data.schema import DataError

    defaults = BuildConfig()
    log = (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    try:
        config = BuildConfig(
            rules=tuple(args.rule or defaults.rules),
            entailment=tuple(args.entailment or defaults.entailment),
            embedder=args.embedder or defaults.embedder,
            condition_on_question=not args.no_question,
            sample_temperature=args.sample_temperature,
            methods=tuple(args.method) if args.method else None,
            judges=tuple(args.judge or defaults.judges),
            projection=args.projection,
            graph_backend=args.graph_backend,
            batch_size=defaults.batch_size if args.batch_size is None else args.batch_size,
            nli_dtype=args.nli_dtype,
            name=args.name,
            probe_judge=args.probe_judge,
            engine=args.engine,
            ray_address=args.address,
        )
        manifest = build(args.input, args.out, config, cache_dir=args.cache_dir,
                         progress=not args.quiet, log=log)
    except DataError as exc:
        print(f"{', '.join(args.input)}: INVALID ({_plural(len(exc.errors), 'problem')})")
        for error in exc.errors:
            print(f"  {error}")
        return EXIT_DATA
    except (BuildError, ValueError, FileNotFoundError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return EXIT_DATA
    counts = manifest["counts"]
    print(f"built {args.out}: {counts['questions']} questions, {counts['samples']} samples, "
          f"{counts['unique_texts']} unique texts, {counts['pairs_computed']} entailment pairs "
          f"computed, {len(manifest['methods'])} methods, {len(manifest['rules'])} rules, "
          f"{manifest['timings']['total']:.1f} s")
    return EXIT_OK


# ---- generate -------------------------------------------------------------------------------


def _add_generate(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="sample answers from a local GGUF model or an OpenAI-compatible server",
        description="Write cached generations (nested JSONL) for a questions file: K samples "
        "at each temperature plus a greedy answer per question, optionally P(true). "
        "Resumes where an interrupted run stopped.",
    )
    p.add_argument("questions", help="JSONL with question_id, question, references")
    p.add_argument("--out", required=True, help="output JSONL (appended; resumable)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="GGUF", help="local GGUF model (needs uqlens[generate])")
    src.add_argument("--endpoint", metavar="URL",
                     help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1")
    p.add_argument("--server-model", default="", help="model name to send to --endpoint")
    p.add_argument("--temperature", type=float, action="append",
                   help="sampling temperature, repeatable (default 0.7)")
    p.add_argument("--samples", type=int, default=10, help="samples per temperature")
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--no-p-true", action="store_true", help="skip P(true) of the greedy answer")
    p.add_argument("--limit", type=int, default=None, help="only the first N questions")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--hidden-states", nargs="?", const="all", choices=("all", "greedy"),
                   help="record the model's final-layer hidden state of prompt + answer "
                   "(float16, field hidden_state) for every answer, or only the greedy one "
                   "(local GGUF only: servers do not expose them)")
    p.add_argument("--hidden-pooling", choices=("last", "mean"), default="last",
                   help="hidden state of the last token (default) or mean over all tokens")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from uqlens.backends.generate import (
        GenerationConfig,
        LocalGenerator,
        OpenAICompatibleGenerator,
        generate,
        read_questions,
    )
    from uqlens.data.schema import DataError

    try:
        questions = read_questions(args.questions)[: args.limit]
    except DataError as exc:
        for error in exc.errors:
            print(error)
        return EXIT_DATA
    config = GenerationConfig(
        temperatures=tuple(args.temperature or (0.7,)),
        samples_per_temperature=args.samples,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        p_true=not args.no_p_true,
        hidden_states=args.hidden_states,
        hidden_pooling=args.hidden_pooling,
    )
    if args.hidden_states and not args.model:
        from uqlens.backends.generate import HIDDEN_STATES_FROM_SERVER

        print(f"generate: --hidden-states: {HIDDEN_STATES_FROM_SERVER}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.model:
            generator = LocalGenerator(args.model, n_threads=args.threads)
        else:
            generator = OpenAICompatibleGenerator(args.endpoint, args.server_model)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        n = sum(1 for _ in generate(generator, questions, args.out, config))
    finally:
        generator.close()
    print(f"generated {n} questions into {args.out}")
    return EXIT_OK


# ---- hidden-states --------------------------------------------------------------------------


def _add_hidden_states(subparsers) -> None:
    p = subparsers.add_parser(
        "hidden-states",
        help="add the generating model's hidden states to an existing generations file",
        description="Copy a nested generations JSONL to --out with hidden_state (float16) "
        "on the greedy answer and every sample: the final-layer state (after the output "
        "norm) of the generation prompt + ' ' + answer, as `uqlens generate --hidden-states` "
        "records it. The prompt is rebuilt from the template generation used (--provenance, "
        "or a generation.json beside the input that names it). Resumable.",
    )
    p.add_argument("input", help="nested generations JSONL (as `uqlens generate` writes)")
    p.add_argument("--model", required=True, metavar="GGUF",
                   help="the local GGUF model that generated the answers")
    p.add_argument("--out", required=True, help="output JSONL (appended; resumable)")
    p.add_argument("--greedy-only", action="store_true", help="only the greedy answers")
    p.add_argument("--pooling", choices=("last", "mean"), default="last")
    p.add_argument("--provenance", default=None, metavar="JSON",
                   help="file with the generation config's template (default: generation.json "
                   "beside the input, if it names the input file)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_hidden_states)


def cmd_hidden_states(args: argparse.Namespace) -> int:
    from uqlens.backends.generate import LocalGenerator, add_hidden_states, template_for

    try:
        template, source = template_for(args.input, args.provenance)
        generator = LocalGenerator(args.model, n_threads=args.threads)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        print(f"hidden-states: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"prompt template from {source}", file=sys.stderr)
    try:
        n = add_hidden_states(generator, args.input, args.out, template, pooling=args.pooling,
                              greedy_only=args.greedy_only, progress=not args.quiet)
    except ValueError as exc:
        print(f"hidden-states: {exc}", file=sys.stderr)
        return EXIT_DATA
    finally:
        generator.close()
    print(f"added hidden states to {n} questions into {args.out}")
    return EXIT_OK


# ---- report ---------------------------------------------------------------------------------


def _add_report(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write an HTML + Markdown report of agreement, sensitivity, judges, tails, sets",
        description="Self-contained HTML report (figures embedded, opens offline) and a "
        "Markdown twin (same name, .md) of a built run. No model is loaded.",
    )
    p.add_argument("run", metavar="RUN_DIR", help="a built run folder")
    p.add_argument("--out", required=True, metavar="FILE.html", help="HTML file to write")
    p.add_argument("--rule", default=None, help="clustering rule (default: the run's default)")
    p.add_argument("--judge", default=None, help="correctness judge (default: the run's)")
    p.add_argument("--coverage", type=float, default=0.9, help="conformal target coverage")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from uqlens.report import write_report
    from uqlens.run.folder import RunError

    try:
        html_path, md_path = write_report(args.run, args.out, rule=args.rule, judge=args.judge,
                                          coverage=args.coverage, n_boot=args.n_boot,
                                          seed=args.seed)
    except RunError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return EXIT_DATA
    except (KeyError, ValueError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {html_path} and {md_path}")
    return EXIT_OK


# ---- import / export ------------------------------------------------------------------------


def _add_import(subparsers) -> None:
    p = subparsers.add_parser(
        "import",
        help="convert a peer UQ tool's saved output into a canonical data file",
        description="Read LM-Polygraph, semantic_uncertainty/KLE, uqlm, TruthTorchLM, luq or "
        "Kuhn/UQ-NLG outputs; write canonical nested JSONL or Parquet that `uqlens build` "
        "reads; print what was mapped, what was missing and which views that disables. "
        "The tool's own scores are kept as provided methods (higher = more uncertain).",
    )
    p.add_argument("input", metavar="FILE_OR_DIR", help="the tool's output file or run folder")
    p.add_argument("--format", default="auto",
                   choices=("auto", "lm-polygraph", "semantic-uncertainty", "uqlm",
                            "truthtorchlm", "luq", "uq-nlg", "uqlens"),
                   help="the tool that wrote INPUT; 'uqlens' (auto for a data file no tool "
                   "wrote) reads uqlens input, to add --questions references to it")
    p.add_argument("--out", required=True, metavar="DATA_FILE",
                   help="output file: .jsonl (nested) or .parquet")
    p.add_argument("--allow-pickle", action="store_true",
                   help="open pickled formats (LM-Polygraph, semantic_uncertainty, UQ-NLG); "
                   "pickles can run code when loaded, so only use files you trust")
    p.add_argument("--questions", metavar="DATASET_FILE", default=None,
                   help="dataset with a references/answer/output column and a question/input "
                   "or question_id/id column: references for questions that have none, "
                   "matched by id, by question text, or by position when the tool saved no "
                   "question texts (which it then also fills in)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="drop invalid records instead of failing")
    p.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    import warnings

    from uqlens.data.export import write_dataset
    from uqlens.data.importers import PickleRefused, import_any
    from uqlens.data.schema import DataError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = import_any(args.input, args.format, args.allow_pickle,
                                skip_invalid=args.skip_invalid, questions=args.questions)
    except PickleRefused as exc:
        print(f"import refused: {exc}", file=sys.stderr)
        return EXIT_DATA
    except DataError as exc:
        print(f"{args.input}: INVALID ({_plural(len(exc.errors), 'problem')})")
        for error in exc.errors:
            print(f"  {error}")
        return EXIT_DATA
    except (OSError, ValueError) as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return EXIT_DATA
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    try:
        out = write_dataset(result.dataset, args.out)
    except OSError as exc:
        print(f"cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_DATA
    for line in result.summary():
        print(line)
    print(f"wrote {out}")
    return EXIT_OK


def _add_export(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a built run's answers with clusters, scores and correctness",
        description="Export a run folder as nested JSONL, flat Parquet or luq's JSON sample "
        "format, so other tools can consume what uqlens built.",
    )
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("--format", default="jsonl", choices=("jsonl", "luq", "parquet"))
    p.add_argument("--out", required=True, metavar="PATH")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from uqlens.run.export import export_run
    from uqlens.run.folder import RunError

    try:
        out = export_run(args.run, args.format, args.out)
    except (RunError, OSError, ValueError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return EXIT_DATA
    print(f"wrote {out}")
    return EXIT_OK


# ---- labels --------------------------------------------------------------------------------


def _add_labels(subparsers) -> None:
    p = subparsers.add_parser(
        "labels",
        help="export or import a run's human labels (labels.jsonl) to share and merge them",
        description="A run's human labels live in RUN_DIR/labels.jsonl. `export` writes all "
        "records (JSONL, or CSV for a .csv name); `import` merges a file from another "
        "person: records already present (same id) are skipped, the latest label per "
        "answer wins.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    sub.required = True
    ex = sub.add_parser("export", help="write the run's labels to a file")
    ex.add_argument("run", metavar="RUN_DIR")
    ex.add_argument("--out", required=True, metavar="FILE", help=".jsonl or .csv")
    ex.set_defaults(func=cmd_labels)
    im = sub.add_parser("import", help="merge labels from a file into the run")
    im.add_argument("run", metavar="RUN_DIR")
    im.add_argument("file", metavar="FILE", help=".jsonl or .csv from `uqlens labels export`")
    im.set_defaults(func=cmd_labels)


def cmd_labels(args: argparse.Namespace) -> int:
    from uqlens.run import labels
    from uqlens.run.folder import is_run

    if not is_run(args.run):
        print(f"labels: {args.run}: not a built run (no manifest.json)", file=sys.stderr)
        return EXIT_DATA
    try:
        if args.action == "export":
            out, n = labels.export_labels(args.run, args.out)
            print(f"wrote {_plural(n, 'label')} to {out}")
        else:
            added, skipped = labels.import_labels(args.run, args.file)
            print(f"added {_plural(added, 'label')} to {labels.labels_path(args.run)}; "
                  f"skipped {skipped} already there")
    except (labels.LabelError, OSError, ValueError) as exc:
        print(f"labels {args.action}: {exc}", file=sys.stderr)
        return EXIT_DATA
    return EXIT_OK


def _add_seed_cache(subparsers) -> None:
    p = subparsers.add_parser(
        "seed-cache",
        help="put a built run's entailment pairs and LLM verdicts into the content cache "
        "(rebuilds reuse them)",
        description="A run keeps every entailment pair its build asked a model for and every "
        "llm_reference verdict, with the model's content fingerprint. This writes them into "
        "the cache, so a rebuild of the same inputs calls no model for them. A model whose "
        "files changed has another fingerprint: its answers are not seeded.",
    )
    p.add_argument("run", metavar="RUN_DIR")
    p.add_argument("--entailment", action="append", default=[], metavar="SPEC",
                   help="where a backend's model is on this machine, e.g. llm:PATH.gguf "
                   "(default: the path the build used)")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=cmd_seed_cache)


def cmd_seed_cache(args: argparse.Namespace) -> int:
    from uqlens.build.seed import seed_cache
    from uqlens.run.folder import RunError, load_run

    try:
        seeded = seed_cache(load_run(args.run), args.entailment, args.cache_dir)
    except (RunError, OSError) as exc:
        print(f"seed-cache: {exc}", file=sys.stderr)
        return EXIT_DATA
    print(f"seeded {sum(seeded.values()):,} pairs and verdicts" if seeded
          else "seeded nothing")
    return EXIT_OK


# ---- entry point ---------------------------------------------------------------------------

COMMANDS: list[Callable] = [
    _add_validate, _add_build, _add_generate, _add_hidden_states, _add_report, _add_import,
    _add_export, _add_labels, _add_seed_cache,
]


def build_parser() -> argparse.ArgumentParser:
    from uqlens import __version__

    parser = _Parser(prog="uqlens", description="See what LLM uncertainty scores measure.")
    parser.add_argument("--version", action="version", version=f"uqlens {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for add in COMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see the module docstring)."""
    for stream in (sys.stdout, sys.stderr):  # input text must not crash a narrow console
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError:
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version exit 0 through argparse
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the boundary: one line, never a traceback
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
