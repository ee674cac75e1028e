#!/usr/bin/env python3
"""Writes the snmp_exporter module equivalent to a nocwatch profile, for bench/polling.

    bench/polling/snmp_yml.py PROFILE_DIR PROFILE RECORDING > snmp.yml

The module `catalyst` GETs the profile's scalars and walks every table column the profile
reads (its symbols and its metric_tags columns, `extends` followed), so both pollers fetch
the same varbinds from the simulated device. Every symbol becomes a metric (counter or
gauge by the recorded type) with its table's index; interface tables get the `interface`
and `interface_alias` labels (ifName, ifAlias), as nocwatch's tags. The index length of each
table and the value types are read from the recording the simulator serves.
"""

import sys

import yaml

IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"


def load(directory, name, seen=None):
    seen = set() if seen is None else seen
    if name in seen:
        return []
    seen.add(name)
    file = name if name.endswith(".yaml") else name + ".yaml"
    with open(f"{directory}/{file}") as f:
        profile = yaml.safe_load(f) or {}
    out = [profile]
    for parent in profile.get("extends", []) or []:
        out += load(directory, parent, seen)
    return out


def oid(text):
    return str(text).strip().lstrip(".")


def main():
    directory, name, recording = sys.argv[1:4]
    records = {}
    with open(recording) as f:
        for line in f:
            parts = line.rstrip("\n").split("|", 2)
            if len(parts) == 3:
                records[parts[0]] = parts[1]
    scalars, columns, metrics = [], [], []

    def add(lst, value):
        if value not in lst:
            lst.append(value)

    def index_length(column):
        prefix = column + "."
        lengths = [len(k[len(prefix):].split(".")) for k in records if k.startswith(prefix)]
        return max(lengths) if lengths else 1

    def kind(column_or_scalar):
        prefix = column_or_scalar + "."
        tags = [t for k, t in records.items() if k == column_or_scalar or k.startswith(prefix)]
        tag = tags[0].split(":")[0].rstrip("x") if tags else "2"
        return "counter" if tag in ("65", "70") else ("DisplayString" if tag == "4" else "gauge")

    for profile in load(directory, name):
        for tag in profile.get("metric_tags", []) or []:
            if "OID" in tag:
                add(scalars, oid(tag["OID"]))
        for metric in profile.get("metrics", []) or []:
            if "symbol" in metric and "table" not in metric:
                symbol = metric["symbol"]
                if isinstance(symbol, dict) and "OID" in symbol:
                    add(scalars, oid(symbol["OID"]))
                    metrics.append((symbol.get("name", oid(symbol["OID"])), oid(symbol["OID"]), None))
                continue
            table = metric.get("table") or {}
            table_oid = oid(table.get("OID", "")) if isinstance(table, dict) else ""
            for symbol in metric.get("symbols", []) or []:
                if "OID" not in symbol:
                    continue
                add(columns, oid(symbol["OID"]))
                metrics.append((symbol.get("name", oid(symbol["OID"])), oid(symbol["OID"]), table_oid))
            for tag in metric.get("metric_tags", []) or []:
                column = tag.get("column")
                if isinstance(column, dict) and "OID" in column:
                    add(columns, oid(column["OID"]))
    module = {
        "walk": columns,
        "get": [s if s.endswith(".0") or s.count(".") > 9 else s for s in scalars],
        "version": 2,
        "max_repetitions": 10,
        "retries": 1,
        "timeout": "2s",
        "auth": {"community": "public"},
        "metrics": [],
    }
    seen_names = set()
    for metric_name, metric_oid, table in metrics:
        name = metric_name.replace(".", "_")
        if name in seen_names:
            name = f"{name}_{metric_oid.split('.')[-1]}"
        seen_names.add(name)
        entry = {"name": name, "oid": metric_oid, "type": kind(metric_oid), "help": metric_name}
        if entry["type"] == "DisplayString":
            continue
        if table is not None:
            if metric_oid.startswith("1.3.6.1.2.1.2.2.1.") or metric_oid.startswith("1.3.6.1.2.1.31.1.1.1."):
                entry["indexes"] = [{"labelname": "ifIndex", "type": "gauge"}]
                entry["lookups"] = [
                    {"labels": ["ifIndex"], "labelname": "interface", "oid": IF_NAME, "type": "DisplayString"},
                    {"labels": ["ifIndex"], "labelname": "interface_alias", "oid": IF_ALIAS, "type": "DisplayString"},
                ]
            else:
                entry["indexes"] = [
                    {"labelname": f"index{i + 1}", "type": "gauge"} for i in range(index_length(metric_oid))
                ]
        module["metrics"].append(entry)
    yaml.safe_dump({"catalyst": module}, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
