"""`flowdeck` command: serve, worker, validate, run, db, keys, mcp, and the server verbs
(apply, workflows, runs, approve). Heavy modules load inside the command that needs them, so
`flowdeck --help` and the server verbs start fast."""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from flowdeck.cli.common import (
    DatabaseUrl,
    DataDir,
    LogFormat,
    LogLevel,
    err,
    load_settings,
    out,
    prepare_database,
)
from flowdeck.cli.db_cmd import db_app
from flowdeck.cli.keys_cmd import keys_app
from flowdeck.cli.mcp_cmd import mcp_command
from flowdeck.cli.remote import ApiKey, AsJson, Profile, Server, resolve
from flowdeck.cli.runs_cmd import approvals_command, approve_command, runs_app
from flowdeck.cli.workflows_cmd import apply_command, workflows_app

app = typer.Typer(
    name="flowdeck",
    help="Flowdeck: self-hosted workflows. Every option is also a FLOWDECK_* variable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(workflows_app, name="workflows")
app.add_typer(runs_app, name="runs")
app.command("apply")(apply_command)
app.command("approve")(approve_command)
app.command("approvals")(approvals_command)


def _print_version(value: bool) -> None:
    if value:
        from flowdeck import __version__

        out.print(f"flowdeck {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version"),
    ] = False,
) -> None:
    """Flowdeck: self-hosted workflows. Every option is also a FLOWDECK_* variable."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [8700]")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
) -> None:
    """Run the API server (with the scheduler) and its worker (a process of its own unless
    FLOWDECK_WORKER_PROCESS=false)."""
    from flowdeck.api.app import create_app
    from flowdeck.cli.serving import PortUnavailable, bind, serve_on
    from flowdeck.cli.worker_cmd import status_line
    from flowdeck.logs import configure_logging, logging_config
    from flowdeck.telemetry import configure_tracing

    settings = load_settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        log_level=log_level,
        log_format=log_format,
    )
    configure_logging(settings.log_format, settings.log_level)
    # The port first: when it is taken, nothing else starts and one line says so.
    try:
        sock = bind(settings.host, settings.port)
    except PortUnavailable as exc:
        err.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    configure_tracing("flowdeck-server")
    prepare_database(settings)
    worker = None
    if settings.run_worker and settings.worker_process:
        from flowdeck.cli.worker_process import WorkerProcess, keep_signals_for_the_drain

        worker = WorkerProcess(settings)
        worker.start()
        # The worker's runs and steps are counted in its process: /metrics adds them in.
        update = {"run_worker": False, "worker_metrics_url": worker.metrics_url}
        settings = settings.model_copy(update=update)
        keep_signals_for_the_drain()
    api = create_app(settings)
    # What is loaded by now (modules, the app) lives as long as the process: kept out of the
    # collector's full passes, which would otherwise hold the event loop for ~100 ms each time
    # a big request (a 1 MiB definition) leaves many objects behind.
    gc.freeze()
    url = f"http://{settings.host}:{settings.port}"
    try:
        serve_on(
            sock,
            api,
            settings,
            logging_config(settings.log_format, settings.log_level),
            lambda: status_line(settings, err, f"Flowdeck listening on {url}"),
        )
    finally:
        sock.close()
        if worker is not None:
            worker.stop()


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Definition file (YAML or JSON)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Validate a definition file; exit 1 with every error when it is invalid."""
    from flowdeck.domain.validation import (
        DefinitionParseError,
        load_definition_text,
        validate_definition,
    )

    try:
        raw = load_definition_text(file.read_text())
    except OSError as exc:
        err.print(f"[red]Cannot read {file}: {exc.strerror}[/red]")
        raise typer.Exit(2) from exc
    except DefinitionParseError as exc:
        if as_json:
            out.print_json(json.dumps({"valid": False, "errors": [str(exc)], "warnings": []}))
        else:
            err.print(f"[red]✗ {file}: {exc}[/red]")
        raise typer.Exit(1) from exc
    settings = load_settings()
    result = validate_definition(raw, max_steps=settings.max_steps)
    if as_json:
        payload = {"valid": result.valid, "errors": result.errors, "warnings": result.warnings}
        out.print_json(json.dumps(payload))
    else:
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        if result.valid:
            out.print(f"[green]✓[/green] {file} is valid", highlight=False)
        else:
            err.print(f"[red]✗ {file} has {len(result.errors)} error(s):[/red]", highlight=False)
            for error in result.errors:
                err.print(f"  - {error}", highlight=False, markup=False)
    if not result.valid:
        raise typer.Exit(1)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a definition file (for editors: yaml-language-server)."""
    from flowdeck.definition import workflow_json_schema

    sys.stdout.write(json.dumps(workflow_json_schema(), indent=2) + "\n")


@app.command("run")
def run_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A definition file (run here), or a workflow's id or slug on a server",
            metavar="FILE|NAME",
        ),
    ],
    inputs: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="key=value (JSON values typed)")
    ] = None,
    secrets: Annotated[
        list[str] | None,
        typer.Option("--secret", "-s", help="NAME=VALUE, used as {{ secrets.NAME }} (here)"),
    ] = None,
    secrets_files: Annotated[
        list[Path] | None,
        typer.Option("--secrets-file", help="A file of NAME=VALUE lines, .env style (here)"),
    ] = None,
    approve_all: Annotated[
        bool, typer.Option("--approve-all", help="Approve every approval step without asking")
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="On a server: start, print the run id, exit")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="On a server: the same key starts one run"),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="On a server: stop following after N seconds (exit 124)"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Run a definition file here, without a server, or start a workflow on a server (with
    --server or --profile, or a NAME that is not a file) and follow it live.

    Approval steps are asked at the terminal (or all approved with --approve-all). The run's
    `outputs` are printed as JSON on stdout, or each step's output when it declares none;
    exit 1 when the run fails.
    """
    from flowdeck.cli.common import parse_inputs

    try:
        values = parse_inputs(inputs or [])
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    if _on_a_server(target, server, profile):
        if secrets or secrets_files:
            err.print(
                "[red]--secret and --secrets-file are for local runs; a server keeps "
                "its own secrets (PUT /api/secrets/NAME)[/red]",
                highlight=False,
            )
            raise typer.Exit(2)
        from flowdeck.cli.watch import start_remote

        start_remote(
            resolve(server, api_key, profile),
            target,
            values,
            idempotency_key=idempotency_key,
            detach=detach,
            approve_all=approve_all,
            timeout=timeout,
            as_json=as_json,
        )
        return
    _run_here(Path(target), values, secrets or [], secrets_files or [], approve_all)


def _on_a_server(target: str, server: str | None, profile: str | None) -> bool:
    """Whether `flowdeck run TARGET` means a workflow on a server rather than a file here."""
    if server or profile or os.environ.get("FLOWDECK_PROFILE"):
        return True
    path = Path(target)
    looks_like_a_file = path.suffix.lower() in (".yaml", ".yml", ".json") or "/" in target
    return not path.is_file() and not looks_like_a_file


def _run_here(
    file: Path,
    values: dict[str, Any],
    secrets: list[str],
    secrets_files: list[Path],
    approve_all: bool,
) -> None:
    from flowdeck.cli.local_run import Approvals, parse_secrets, run_file, step_outputs
    from flowdeck.errors import FlowdeckError

    raw = _load_file(file)
    try:
        given = parse_secrets(secrets, secrets_files)
    except (ValueError, OSError) as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    ask = _ask_at_the_terminal if sys.stdin.isatty() and not approve_all else None
    try:
        run, steps = run_file(
            raw, values, err, secrets=given, approvals=Approvals(approve_all, ask)
        )
    except FlowdeckError as exc:
        err.print(f"[red]✗ {exc.detail}[/red]", highlight=False)
        for problem in exc.errors:
            err.print(f"  - {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from exc
    if run.status == "completed":
        err.print(f"[green]✓ run {run.status}[/green]")
        declared = isinstance(raw, dict) and bool(raw.get("outputs"))
        out.print_json(json.dumps(run.output if declared else step_outputs(steps), default=str))
        return
    err.print(f"[red]✗ run {run.status}: {run.error or ''}[/red]", highlight=False)
    raise typer.Exit(1)


def _ask_at_the_terminal(step_id: str, message: str) -> tuple[bool, str | None]:
    """Ask whoever runs `flowdeck run` to decide an approval step."""
    err.print(f"[bold]Step '{step_id}' asks:[/bold] {message}", highlight=False)
    approve = typer.confirm("Approve?", default=False, err=True)
    comment = typer.prompt("Comment", default="", show_default=False, err=True)
    return approve, comment or None


@app.command()
def worker(
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="The shared PostgreSQL database")
    ] = None,
    data_dir: DataDir = None,
    log_level: LogLevel = None,
    log_format: LogFormat = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve this worker's /metrics here [off]")
    ] = None,
) -> None:
    """Run steps for a shared database (no API); SIGTERM drains and exits."""
    from flowdeck.cli.worker_cmd import run_worker

    settings = load_settings(
        database_url=database_url,
        data_dir=data_dir,
        log_level=log_level,
        log_format=log_format,
        metrics_port=metrics_port,
    )
    run_worker(settings, err)


def _load_file(file: Path) -> Any:
    from flowdeck.domain.validation import DefinitionParseError, load_definition_text

    try:
        return load_definition_text(file.read_text())
    except OSError as exc:
        err.print(f"[red]Cannot read {file}: {exc.strerror}[/red]")
        raise typer.Exit(2) from exc
    except DefinitionParseError as exc:
        err.print(f"[red]✗ {file}: {exc}[/red]")
        raise typer.Exit(1) from exc


app.command("mcp")(mcp_command)


if __name__ == "__main__":
    app()
