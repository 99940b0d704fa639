"""A :class:`~crm_spark.onboard.propose.Proposal` as YAML for the user to edit (comments mark what
is a guess), and as the lines ``crm-spark init`` prints."""

from __future__ import annotations

import json
import re
import textwrap

import yaml

from crm_spark.onboard.propose import CHANNELS, Proposal, SourceProposal, location_of

PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./ -]*$")


def to_yaml(proposal: Proposal, command: str) -> str:
    """The configuration file: one entry under ``sources:`` per proposed source."""
    out = [f"# Proposed by `{command}`.",
           "# Lines marked 'check:' are guesses. Edit, then validate against sample rows with",
           "#   crm-spark --conf <this file> check-config",
           "", "sources:"]
    described: set = set()
    for source in proposal.sources:
        out += _source_lines(source, source.sample.path not in described)
        described.add(source.sample.path)
    if proposal.id_only_contacts:
        out += ["# The customers carry only an id: nothing to match persons by probabilistically.",
                "identity:", "  probabilistic: false",
                f"  source_trust: [{', '.join(proposal.id_only_contacts)}]", ""]
    return "\n".join(out)


def _source_lines(source: SourceProposal, describe_file: bool) -> list[str]:
    """The source's entry; the file's type notes with the first source of each file."""
    sample = source.sample
    read = "the whole file" if sample.is_whole_file else f"the first {sample.rows:,} rows"
    out = [f"  # {source.why}"]
    if describe_file:
        out.append(f"  # types inferred from {read} of {sample.path.name}")
        for column in sample.columns:
            out += [f"  #   {column.name}: {note}" for note in column.guess.notes]
        out += [f"  #   {note}" for note in sample.notes]
    for check in source.checks:
        out.append(f"  # check: {check}")
    out.append(f"  {source.name}:")
    body = [f"channel: {source.channel}                # check: where these rows come from ({CHANNELS})",
            f"entity: {source.entity}",
            f"format: {sample.format}",
            f"location: {_scalar(location_of(sample))}     # ingest reads every file of this folder"]
    if sample.options:
        body.append(f"options: {_flow(sample.options)}")
    if sample.encoding != "utf-8":
        body.append(f"encoding: {sample.encoding}")
    schema = ", ".join(f"{c.name} {c.guess.type}" for c in sample.columns)
    body.append("schema: >-")
    body += ["  " + line for line in textwrap.wrap(schema, 92, break_long_words=False,
                                                   break_on_hyphens=False)]
    formats = {c.name: c.guess.format for c in sample.columns if c.guess.format}
    if formats:
        body.append(f"formats: {_flow(formats)}")
    if source.required:
        body.append(f"required: [{', '.join(source.required)}]")
    if source.customer_source:
        body.append(f"customer_source: {source.customer_source}")
    body.append(f"mapping: {_flow(source.mapping)}")
    return out + ["    " + line for line in body] + [""]


def _scalar(value: str) -> str:
    """``value`` bare when YAML reads it back as the same string (or a boolean option), else
    double-quoted: patterns hold ``[``, ``'`` and ``:``, which a flow mapping would misread."""
    if value in ("true", "false") or (PLAIN.match(value) and yaml.safe_load(value) == value):
        return value
    return json.dumps(value)


def _flow(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in mapping.items()) + "}"


def summary(proposal: Proposal, out: str) -> list[str]:
    """What init guessed and what to check, for the terminal."""
    lines = []
    described: set = set()
    for source in proposal.sources:
        sample = source.sample
        lines.append(f"{source.name}: {source.entity} from {sample.path.name} "
                     f"({sample.format}, {sample.rows:,} rows read)")
        lines.append(f"  mapping: {', '.join(f'{t} <- {c}' for t, c in source.mapping.items())}")
        typed = [f"{c.name} {c.guess.type}" + (f" ({c.guess.format})" if c.guess.format else "")
                 for c in sample.columns if c.guess.type != "STRING"]
        if typed and sample.path not in described:
            lines.append(f"  typed: {', '.join(typed)}")
        lines += [f"  check: {check}" for check in source.checks]
        described.add(sample.path)
    lines.append(f"wrote {out}; edit what it marks 'check:', then run: crm-spark --conf {out} check-config")
    return lines
