"""``flyte wandb ...``: the plugin's commands in Flyte's CLI (entry point ``flyte.plugins.cli.commands``)."""

from typing import Any

import rich_click as click

from ._persist import DEFAULT_TIMEOUT, STORE_ENV


@click.group(name="wandb")
def wandb_group() -> None:
    """Weights & Biases: upload the offline runs a Flyte run kept in its storage."""


@wandb_group.command(name="sync")
@click.argument("run_name")
@click.option(
    "--store",
    envvar=STORE_ENV,
    help=f"Where the offline runs are kept: the run's raw-data bucket (s3://bucket). Env {STORE_ENV}.",
)
@click.option("--workers", "-j", default=4, show_default=True, type=click.IntRange(min=1), help="Runs at once.")
@click.option("--project", "-p", default=None, help="Override the W&B project of every synced run.")
@click.option("--entity", "-e", default=None, help="Override the W&B entity of every synced run.")
@click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Seconds one run folder's upload may take; a folder W&B does not answer for within it fails.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def sync_command(run_name: str, no_progress: bool, **options: Any) -> None:
    """Upload the offline W&B runs of the Flyte run RUN_NAME to W&B (as `wandb sync` does).

    Runs synced before are skipped. An offline sweep's trials are published as one W&B sweep once all are synced.
    """
    from .sync import sync_offline_runs

    try:
        report = sync_offline_runs(run_name, progress=not no_progress, **options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except OSError as exc:  # the store did not answer: not a usage error, but one clear line all the same
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{run_name}: {len(report.synced)} run folder(s) synced, {len(report.skipped)} synced before, "
        f"{len(report.failed)} failed."
    )
    for offline_id, sweep_id in report.sweeps.items():
        click.echo(f"  offline sweep {offline_id} published as W&B sweep {sweep_id}")
    for uri, why in report.failed.items():
        click.echo(f"  not synced: {uri}: {why}", err=True)
    if report.failed:
        raise SystemExit(1)
