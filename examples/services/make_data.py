"""Writes data/*.json, the example's input items, from the license texts Debian ships in
/usr/share/common-licenses (base-files): one JSON document per license. Run it again only to
rebuild data/ (the committed files are the inputs; the tests do not regenerate them)."""
import json
import os
import sys

SOURCE = "/usr/share/common-licenses"
LICENSES = ["Apache-2.0", "Artistic", "BSD", "CC0-1.0", "GFDL-1.3", "GPL-2", "LGPL-3", "MPL-2.0"]


def document(name: str) -> dict:
    path = os.path.join(SOURCE, name)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    title = next((line.strip() for line in lines if line.strip()), name)
    return {"id": name, "source": path, "title": title, "lines": len(lines), "text": text}


def main() -> None:
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    os.makedirs(out, exist_ok=True)
    for name in LICENSES:
        with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(document(name), f, indent=1, ensure_ascii=False)
            f.write("\n")
    sys.stdout.write(f"wrote {len(LICENSES)} documents to {out}\n")


if __name__ == "__main__":
    main()
