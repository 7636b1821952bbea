#!/usr/bin/env python3
"""Builds the gpushare IDL without the anchor CLI, the way `anchor idl build` does: runs the program's
`idl-build` print test, assembles the printed pieces, and writes `target/idl/gpushare.json` and
`target/types/gpushare.ts` (the places the anchor CLI uses).

  scripts/idl.py           generate, then fail if the committed idl/gpushare.json differs
  scripts/idl.py --write   generate and update the committed idl/gpushare.json
"""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = "gpushare"
COMMITTED = ROOT / "idl" / f"{PROGRAM}.json"
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def print_idl() -> str:
    """Runs the print test that `#[program]` generates under the `idl-build` feature, through the test
    command's alias (.cargo/config.toml: its features and the ANCHOR_IDL_BUILD_* settings `anchor idl
    build` uses), so that nothing is built twice."""
    cmd = ["cargo", "test-all", "--lib", "__anchor_private_print_idl", "--", "--show-output", "--quiet"]
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"idl: building the IDL failed ({' '.join(cmd)})")
    return done.stdout


def assemble(output: str) -> dict:
    """Collects the printed blocks into one IDL, as anchor-lang-idl's builder does."""
    blocks = re.findall(r"^--- IDL begin (\w+) ---\n(.*?)^--- IDL end \1 ---$", output, re.S | re.M)
    address = re.search(r"^--- IDL begin address ---\n\"?(\w+)", output, re.M)
    programs = [json.loads(body) for kind, body in blocks if kind == "program"]
    if len(programs) != 1 or not address:
        sys.exit("idl: the print test did not print exactly one program and its address")
    idl = programs[0]
    idl["address"] = address.group(1)
    types = {}
    for kind, body in blocks:
        if kind == "event":
            printed = json.loads(body)
            idl.setdefault("events", []).append(printed["event"])
            types.update({t["name"]: t for t in printed["types"]})
        elif kind == "errors":
            idl["errors"] = json.loads(body)
        elif kind == "const":
            idl.setdefault("constants", []).append(json.loads(body))
    types.update({t["name"]: t for t in idl.get("types", [])})
    idl["types"] = list(types.values())
    idl = shorten_module_paths(idl)
    for key in ("accounts", "constants", "events", "instructions", "types"):
        if key in idl:
            idl[key].sort(key=lambda item: item["name"])
    # The field order of anchor-lang-idl's `Idl`, whatever order the tests printed their blocks in.
    order = ("address", "metadata", "docs", "instructions", "accounts", "events", "errors", "types", "constants")
    return {key: idl[key] for key in order if key in idl}


def shorten_module_paths(idl: dict) -> dict:
    """`a::b::Name` becomes `Name` wherever that names one thing only."""
    text = json.dumps(idl)
    for path, name in set(re.findall(r'"((?:\w+::)+(\w+))"', text)):
        candidate = text.replace(f'"{path}"', f'"{name}"')
        if not re.search(rf'"(?:\w+::)+{name}"', candidate):
            text = candidate
    return json.loads(text)


def is_pubkey(text: str) -> bool:
    if not 32 <= len(text) <= 44 or any(c not in BASE58 for c in text):
        return False
    value = 0
    for c in text:
        value = value * 58 + BASE58.index(c)
    return value.bit_length() <= 256


def lower_camel(name: str) -> str:
    words = [w for w in re.split(r"_+", name) if w]
    if not words:
        return name
    head = words[0]
    head = head[0].lower() + head[1:]
    return head + "".join(w[0].upper() + w[1:] for w in words[1:])


def types_ts(idl: dict) -> str:
    """The camelCase type helper the anchor CLI writes to target/types."""
    text = json.dumps(idl, separators=(",", ":"))
    for value in set(re.findall(r'"\w+":"(\w+)"', text)):
        if not is_pubkey(value):
            text = text.replace(f'"{value}"', f'"{lower_camel(value)}"')
    pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    type_name = "".join(w.capitalize() for w in PROGRAM.split("_"))
    return ("/**\n * Program IDL in camelCase format in order to be used in JS/TS.\n *\n"
            " * Note that this is only a type helper and is not the actual IDL. The original\n"
            f" * IDL can be found at `target/idl/{PROGRAM}.json`.\n */\n"
            f"export type {type_name} = {pretty};\n")


def main() -> None:
    idl = assemble(print_idl())
    rendered = json.dumps(idl, indent=2, ensure_ascii=False) + "\n"
    (ROOT / "target" / "idl").mkdir(parents=True, exist_ok=True)
    (ROOT / "target" / "types").mkdir(parents=True, exist_ok=True)
    (ROOT / "target" / "idl" / f"{PROGRAM}.json").write_text(rendered)
    (ROOT / "target" / "types" / f"{PROGRAM}.ts").write_text(types_ts(idl))
    names = [i["name"] for i in idl["instructions"]]
    print(f"idl: {len(names)} instructions, {len(idl.get('accounts', []))} accounts, "
          f"{len(idl.get('events', []))} events, {len(idl.get('errors', []))} errors")
    if "--write" in sys.argv:
        COMMITTED.parent.mkdir(exist_ok=True)
        COMMITTED.write_text(rendered)
        print(f"idl: wrote {COMMITTED.relative_to(ROOT)}")
    elif not COMMITTED.exists() or COMMITTED.read_text() != rendered:
        sys.exit(f"idl: {COMMITTED.relative_to(ROOT)} does not match the program; "
                 "run scripts/idl.py --write and commit it")


if __name__ == "__main__":
    main()
