"""The `embedforge` console script."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def state_folder(name: str) -> str:
    """A folder of the project's own state (.embedforge/<name>) under EMBEDFORGE_HOME, or the project folder: never the
    current folder, so a command run from anywhere writes beside the project's other state."""
    return str(Path(os.environ.get("EMBEDFORGE_HOME", PROJECT_ROOT)) / ".embedforge" / name)


def local_defaults(home: Path | None = None, override: bool = False) -> None:
    """Keep Prefect's state, results and caches under `home` (the project) and every run offline.

    Values the user already set win unless `override` (tests use it to point everything at a temp folder).
    """
    home = Path(home or os.environ.get("EMBEDFORGE_HOME", PROJECT_ROOT))
    # results follow PREFECT_HOME as Prefect's own default does: a user who moved Prefect's state elsewhere must not
    # find results written into the project folder
    prefect_home = (
        Path(os.environ["PREFECT_HOME"]) if os.environ.get("PREFECT_HOME") and not override else home / ".prefect"
    )
    defaults = {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_LOCAL_STORAGE_PATH": str(prefect_home / "storage"),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "tasks",
        "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for key, value in defaults.items():
        if override:
            os.environ[key] = value
        else:
            os.environ.setdefault(key, value)


class _NoTracebacks(logging.Filter):
    """The CLI promises a one-paragraph error: strip tracebacks from console log records (EMBEDFORGE_DEBUG=1 keeps them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def _quiet_tracebacks() -> None:
    if os.environ.get("EMBEDFORGE_DEBUG"):
        return
    for name in ("prefect", "prefect.task_runs", "prefect.flow_runs", ""):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_NoTracebacks())


def _write_json(path: str | None, payload: dict) -> None:
    if path:
        from tasks.storage import atomic_write_text

        atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    from tasks.config import load_config

    cfg = load_config(args.config, args.set or [])
    from flows.retrain import retrain
    from flows.server import run_session
    from tasks import liveness, registry

    _quiet_tracebacks()
    partials = {
        Path(cfg.registry.store): liveness.STORE_PARTIALS,
        registry.line_root(cfg.registry.root, cfg.registry.line): liveness.REGISTRY_PARTIALS,
    }
    with run_session(partials):  # a server that dies with us; first, clean up after runs that were killed
        summary = retrain.with_options(on_running=[*retrain.on_running_hooks, liveness.record_running])(cfg)
    headline = ("ndcg@10", "mrr@10", "map@100", "recall@100")
    _write_json(args.json, summary)
    print(summary["reason"])
    for role in ("base", "champion", "candidate"):
        m = summary["metrics"][role]
        print(f"  {role:<9} " + "  ".join(f"{k}={m[k]:.4f}" for k in headline))
    print(f"model: {summary['model_path']}  (champion: {summary['champion']})")
    return 0


def _k_list(text: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not ks or ks[0] <= 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return ks


def cmd_score(args: argparse.Namespace) -> int:
    from tasks.metrics import METRICS, score_files

    macro, per_query = score_files(args.run, args.qrels, args.k)
    _write_json(args.json, macro)
    print(f"{per_query.height} judged queries, {int((per_query['retrieved'] > 0).sum())} of them in the run")
    print("metric     " + "".join(f"{'@' + str(k):>10}" for k in args.k))
    for metric in METRICS:
        print(f"{metric:<11}" + "".join(f"{macro[f'{metric}@{k}']:>10.4f}" for k in args.k))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tasks.config import EvalConfig, PassageConfig
    from tasks.evaluate import HEADLINE, evaluate_folder

    cfg = EvalConfig(
        k_values=args.k,
        dims=args.dims or [],
        batch_size=args.batch_size,
        passages=PassageConfig(split=not args.no_passages),
    )
    payload = evaluate_folder(args.data, args.split, args.model, cfg, args.store or state_folder("store"))
    _write_json(args.json, payload)
    sizes = payload["dims"]
    full = next(iter(sizes.values()))
    print(
        f"{payload['queries']} judged queries of {args.data} ({args.split}), {payload['passages']['documents']} documents"
    )
    print(f"{'':<10}" + "".join(f"{h:>12}" for h in HEADLINE) + f"{'kept':>8}")
    for d, values in sizes.items():
        kept = values["ndcg@10"] / full["ndcg@10"] if full["ndcg@10"] else float("nan")
        print(f"{'dim ' + d:<10}" + "".join(f"{values[h]:>12.4f}" for h in HEADLINE) + f"{kept:>8.1%}")
    print(f"{'bm25':<10}" + "".join(f"{payload['bm25'][h]:>12.4f}" for h in HEADLINE))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from tasks.ingest.validation import validate_path

    path = Path(args.path)
    low, _, high = (args.scale or "0-5").partition("-")
    checked = validate_path(
        path, args.type, args.columns, (float(low), float(high)), args.quarantine_dir or state_folder("quarantine")
    )
    _write_json(args.json, checked.result)
    if checked.code == 2:
        print(f"embedforge validate: cannot read {path}: {checked.message}", file=sys.stderr)
    elif checked.message:
        print(f"{path}: INVALID: {checked.message}")
    else:
        _print_validation(path, checked.result)
    return checked.code


def _print_validation(path: Path, result: dict) -> None:
    from collections import defaultdict

    verdict = "valid" if result["valid"] else "INVALID"
    print(
        f"{path}: {verdict} ({result['type']}); rows in {result['rows_in']}, valid {result['rows_valid']}, "
        f"quarantined {result['rows_quarantined']}"
    )
    by_check: dict[str, list[dict]] = defaultdict(list)
    for error in result["errors"]:
        by_check[f"{error['column']}: {error['check']}"].append(error)
    for check, errors in by_check.items():
        print(f"  {check} — {len(errors)} row(s)")
        for e in errors[:5]:
            print(f"    {e['file']}:{e['row']} {e['column']} — {e['check']} ({e['value']})")
    for warning in result["warnings"]:
        print(f"  warning: {warning}")
    if result.get("quarantine_path"):
        print(f"  quarantined rows and reasons: {result['quarantine_path']}")


def cmd_data_add(args: argparse.Namespace) -> int:
    from tasks import datasets
    from tasks.ingest import DataError
    from tasks.ingest.tables import parse_columns

    datasets.check_name(args.dataset)
    source = Path(args.path)
    api_url = os.environ.get("PREFECT_API_URL")
    try:
        datasets.refuse_links(source)  # before reading: a link would make validation read a file outside the folder
        datasets.validate_input(source, args.type, parse_columns(args.columns))
        cfg, where = datasets.trigger_config(args.config, args.set or [], api_url)
        pairs = datasets.check_trainable(source, cfg, where)
        version = datasets.add(source, args.dataset, args.root)
    except DataError as exc:
        print(
            f"embedforge data add: {source} was rejected, nothing was stored or announced: {exc.summary}",
            file=sys.stderr,
        )
        for finding in exc.findings[:20]:
            print(f"  {finding}", file=sys.stderr)
        if len(exc.findings) > 20:
            print(
                f"  … and {len(exc.findings) - 20} more; `embedforge validate {source}` writes every one to a "
                "quarantine parquet",
                file=sys.stderr,
            )
        return 1
    stored = (
        f"{args.dataset}: stored version {version.sha256[:16]} at {version.path}"
        if version.new
        else f"{args.dataset}: identical content is already stored as {version.sha256[:16]} at {version.path}"
    )
    if not version.new and datasets.announced(args.root, version):
        print(f"{stored}; it was announced before, nothing to do")
        return 0
    if not api_url:  # emit_event would go to a throwaway in-process server that no deployment listens on
        same = (f" --config {args.config}" if args.config else "") + "".join(
            f" --set {item}" for item in args.set or []
        )
        print(stored)
        print(
            f"embedforge data add: NOT announced: PREFECT_API_URL is not set, so no Prefect server would hear "
            f"{datasets.EVENT} and no run starts (exit 3). To train on it now: embedforge run{same} --set "
            f"data.path={version.path}. To start the on-new-data deployment: set PREFECT_API_URL to the server "
            "`embedforge serve` uses and run this command again; it announces a stored version that never was",
            file=sys.stderr,
        )
        return 3
    if not datasets.emit_updated(version, args.root):
        print(stored)
        print(
            f"embedforge data add: NOT announced: the event could not be handed to {api_url} (see the log above); "
            "run this command again once the server is up (exit 3)",
            file=sys.stderr,
        )
        return 3
    print(
        f"{stored}; announced {datasets.EVENT} to {api_url} "
        f"({pairs} training pairs, checked against the config of {where}); the run it starts trains model line "
        f"{args.dataset} (`embedforge models list --line {args.dataset}`)"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.serve import NIGHTLY_CRON, serve_all
    from tasks.config import load_config

    cfg = load_config(args.config, args.set or [])
    if not os.environ.get("PREFECT_API_URL"):
        print("embedforge serve needs a Prefect server: start one (make ui) and set PREFECT_API_URL", file=sys.stderr)
        return 2
    cron = args.cron or NIGHTLY_CRON
    print(f"serving nightly ({cron}, {args.timezone}) and on-new-data against {os.environ['PREFECT_API_URL']}")
    serve_all(cfg, cron, args.timezone)
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    from flows.serve import NIGHTLY_CRON, prefect_yaml
    from tasks.config import load_config
    from tasks.storage import atomic_write_text

    text = prefect_yaml(
        load_config(args.config, args.set or []),
        args.config or "(the defaults)",
        args.cron or NIGHTLY_CRON,
        args.timezone,
    )
    if args.output:
        atomic_write_text(args.output, text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _line(args: argparse.Namespace) -> tuple[str, str, Path]:
    """The registry root, the model line (--line, else registry.line of the config) and that line's folder."""
    from tasks import registry
    from tasks.config import check_name, load_config

    cfg = load_config(args.config, args.set or []).registry
    root, line = args.root or cfg.root, check_name(args.line, "--line") if args.line else cfg.line
    return root, line, registry.line_root(root, line)


def cmd_models_list(args: argparse.Namespace) -> int:
    from tasks import registry

    root, line, folder = _line(args)
    rows = registry.list_versions(folder)
    pointer = registry.read_champion(folder)
    others = [name for name in registry.lines(root) if name != line]
    if args.json:
        # history: every promotion (with the champion it was judged against) and rollback, oldest first
        payload = {
            "root": root,
            "line": line,
            "lines": registry.lines(root),
            "champion": pointer["version"] if pointer else None,
            "versions": rows,
            "history": registry.history(folder),
        }
        print(json.dumps(payload, indent=2))
        return 0
    elsewhere = f"; other model lines: {', '.join(others)} (models list --line NAME)" if others else ""
    if not rows:
        print(f"no model versions on line {line} in {root}{elsewhere}")
        return 0
    print(f"model line {line} in {root}{elsewhere}")
    print(
        f"{'':2}{'version':<14}{'created (UTC)':<27}{'gate':<6}{'score':>8}  {'promoted (UTC)':<27}{'over':<14}dataset"
    )
    for r in rows:
        mark = "* " if r["champion"] else "  "
        score = f"{r['score']:.4f}" if isinstance(r["score"], (int, float)) else "-"
        promoted = (r["promoted_at"] or "-") + (" (rolled back)" if r["rolled_back"] else "")
        print(
            f"{mark}{r['version']:<14}{r['created_at']:<27}{'pass' if r['promoted_by_gate'] else 'fail':<6}{score:>8}  "
            f"{promoted:<27}{r['baseline'] or '-':<14}{r['dataset']}"
        )
    print(
        "* champion; over: the champion it replaced when last promoted"
        if pointer
        else "* champion: none (the base model serves)"
    )
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    from tasks import registry

    _, line, folder = _line(args)
    pointer = registry.promote(folder, args.version)
    print(
        f"line {line}: champion is now {pointer['version']} ({pointer['path']}), promoted over {pointer['baseline']}; "
        "its files match its manifest"
    )
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    from tasks import registry

    _, line, folder = _line(args)
    pointer = registry.rollback(folder)
    print(
        f"line {line}: "
        + (f"champion is now {pointer['version']} ({pointer['path']})" if pointer else "champion is now the base model")
    )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """A Prefect server on loopback with the project's SQLite database and the same settings as every run."""
    print(f"Prefect UI: http://127.0.0.1:{args.port}  (API: http://127.0.0.1:{args.port}/api)", flush=True)
    prefect = Path(sys.executable).with_name("prefect")
    os.execv(str(prefect), [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(args.port)])
    return 0  # not reached: the server replaces this process


def cmd_strategies(args: argparse.Namespace) -> int:
    from tasks import mining

    rows = mining.strategy_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| strategy | finds | params (defaults) | needs embeddings |\n|---|---|---|---|")
    for row in rows:
        print(f"| `{row['name']}` | {row['finds']} | {row['params']} | {row['embeddings']} |")
    print(
        "\nuse: mining.strategies=[{name: NAME, count: N, params: {...}}, ...]; each module in tasks/mining/ documents its own"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from tasks.config import TABLE_TYPES

    parser = argparse.ArgumentParser(
        prog="embedforge", description="Fine-tune embedding models on your own domain data."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the retraining flow: ingest → mine → train → evaluate → gate → register")
    run.add_argument("--config", help="YAML config (see configs/); defaults apply to whatever it leaves out")
    run.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override one key, value parsed as YAML; repeatable"
    )
    run.add_argument("--json", metavar="OUT", help="write the run summary as JSON to OUT")
    run.set_defaults(handler=cmd_run)
    score = sub.add_parser("score", help="score a TREC run file against TREC or BEIR qrels, like trec_eval -c")
    score.add_argument("run", help="run file: qid Q0 docid rank score tag")
    score.add_argument("qrels", help="qrels file: BEIR TSV (query-id corpus-id score) or TREC (qid 0 docid rel)")
    score.add_argument("--k", type=_k_list, default=[1, 3, 5, 10, 100], help="cut-offs, e.g. 1,3,5,10,100")
    score.add_argument("--json", metavar="OUT", help="write {metric@k: value} as JSON to OUT")
    score.set_defaults(handler=cmd_score)

    validate = sub.add_parser("validate", help="check a dataset file or folder; exit 0 valid, 1 bad rows, 2 unreadable")
    validate.add_argument("path", help="CSV/TSV/JSONL/Parquet file, a BEIR folder, or a SentEval NLI folder")
    validate.add_argument(
        "--type",
        choices=[*TABLE_TYPES, "ir"],
        help="dataset type (detected from the columns when left out)",
    )
    validate.add_argument(
        "--columns", help="field=column,… (header names, or 0-based positions for a file without header)"
    )
    validate.add_argument(
        "--scale", help="declared STS score range, e.g. 0-1 or 1-5 (default 0-5); scores are normalised to 0-5"
    )
    validate.add_argument(
        "--quarantine-dir",
        help="folder for the quarantine parquet of rejected rows and reasons "
        "(default: .embedforge/quarantine under EMBEDFORGE_HOME, or the project folder)",
    )
    validate.add_argument("--json", metavar="OUT", help="write the report as JSON to OUT")
    validate.set_defaults(handler=cmd_validate)

    evaluate = sub.add_parser("evaluate", help="dense retrieval (also at truncated sizes) and BM25 on a BEIR folder")
    evaluate.add_argument("--model", required=True, help="SentenceTransformer folder or cached hub id")
    evaluate.add_argument("--data", required=True, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    evaluate.add_argument("--split", default="test", help="qrels split to score (default test)")
    evaluate.add_argument("--dims", type=_k_list, help="embedding sizes to also score, e.g. 384,256,128,64")
    evaluate.add_argument("--k", type=_k_list, default=[1, 3, 5, 10, 100], help="cut-offs, e.g. 1,3,5,10,100")
    evaluate.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    evaluate.add_argument(
        "--no-passages",
        action="store_true",
        help="read every text only up to the model's limit (default: a long document scores as its best passage)",
    )
    evaluate.add_argument("--json", metavar="OUT", help="write {dims: {size: metrics}, bm25: metrics} as JSON to OUT")
    evaluate.add_argument(
        "--store", help="where the corpus embeddings are kept between calls (default .embedforge/store of the project)"
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    data = sub.add_parser("data", help="the dataset store")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    add_text = (
        "validate a file or BEIR folder, check that the run it triggers can train on it, store it as a new "
        "version, announce it; exit 0 stored and announced (or already was), 1 rejected (nothing stored), "
        "3 stored but not announced (PREFECT_API_URL unset or the server did not take the event)"
    )
    add = data_sub.add_parser("add", help=add_text, description=add_text)
    add.add_argument("path")
    add.add_argument("--dataset", required=True, help="dataset name (letters, digits, '.', '_', '-')")
    add.add_argument("--root", default="data/store", help="dataset store folder (default data/store)")
    add.add_argument("--type", choices=TABLE_TYPES, help="table type")
    add.add_argument("--columns", help="field=column,… mapping for a table")
    add.add_argument(
        "--config",
        help="the config of the triggered runs, as given to `embedforge serve` (default: the "
        "on-new-data deployment's on the server at PREFECT_API_URL, else the defaults)",
    )
    add.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="config override, as given to serve; repeatable"
    )
    add.set_defaults(handler=cmd_data_add)

    serve = sub.add_parser("serve", help="serve the nightly and on-new-data deployments from this process")
    deploy = sub.add_parser("deployments", help="write the deployments `serve` runs as a prefect.yaml for work pools")
    deploy.add_argument("--output", help="file to write (default: print)")
    for p, handler in ((serve, cmd_serve), (deploy, cmd_deployments)):
        p.add_argument("--config", help="YAML config for the runs (only what differs from the defaults)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override; repeatable")
        p.add_argument("--cron", help="nightly schedule (default: 02:00 every day, flows/serve.py NIGHTLY_CRON)")
        p.add_argument("--timezone", default="UTC", help="IANA timezone of the schedule (default UTC)")
        p.set_defaults(handler=handler)

    ui = sub.add_parser("ui", help="start a local Prefect server and UI (the project's SQLite database, loopback only)")
    ui.add_argument("--port", type=int, default=4200, help="port (default 4200)")
    ui.set_defaults(handler=cmd_ui)

    strategies = sub.add_parser("strategies", help="the hard-negative mining strategies, with their parameters")
    strategies.add_argument("--json", action="store_true", help="print JSON instead of a table")
    strategies.set_defaults(handler=cmd_strategies)

    models = sub.add_parser("models", help="list registered model versions, promote one by hand, roll back")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    for name, handler, text in (
        ("list", cmd_models_list, "registered versions, newest first; * marks the champion"),
        ("promote", cmd_models_promote, "make VERSION (a registered id) the champion after checking its files' sha256"),
        ("rollback", cmd_models_rollback, "point the champion back at the model it replaced"),
    ):
        p = models_sub.add_parser(name, help=text)
        if name == "promote":
            p.add_argument("version", help="a registered version id, as `models list` shows it (not a path)")
        if name == "list":
            p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.add_argument("--root", help="registry folder (default: registry.root of the config)")
        p.add_argument(
            "--line",
            help="model line (default: registry.line of the config, 'default'); "
            "a run triggered by `data add --dataset NAME` trains on line NAME",
        )
        p.add_argument("--config", help="YAML config whose registry.root and registry.line to use")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override; repeatable")
        p.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    local_defaults()
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("embedforge: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the promise is one readable paragraph, not a traceback
        if os.environ.get("EMBEDFORGE_DEBUG"):
            raise
        message = " ".join(str(exc).split()) if len(str(exc)) < 2000 else str(exc)
        print(f"embedforge {args.command} failed: {type(exc).__name__}: {message}", file=sys.stderr)
        print("(set EMBEDFORGE_DEBUG=1 for the full traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
