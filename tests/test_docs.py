"""The README and the user guide hold together (issue 25): every relative link and image
resolves, anchors included, and the README stays a page a newcomer reads (≤ 200 lines)."""

import glob
import os
import re

from conftest import ROOT

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)", re.S)


def _documents():
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))
                                                      + [os.path.join(ROOT, "checkpoints", "README.md")])


def slug(heading):
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces → '-'."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#{1,6}\s+(.*)$", text, flags=re.M)}


def test_slug_follows_github():
    assert slug("Learning without a download: synthetic pairs, identity initialisation, "
                "validation") == ("learning-without-a-download-synthetic-pairs-identity-"
                                  "initialisation-validation")
    assert slug("In a browser") == "in-a-browser"


def test_every_relative_link_and_image_resolves():
    documents = _documents()
    assert len(documents) >= 10                     # README, checkpoints/README, the guide
    broken, checked = [], 0
    for document in documents:
        with open(document, encoding="utf-8") as f:
            text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):        # https:, mailto: — not checked offline
                continue
            path, _, anchor = target.partition("#")
            resolved = (os.path.normpath(os.path.join(os.path.dirname(document), path)) if path
                        else document)
            checked += 1
            if not os.path.exists(resolved):
                broken.append(f"{os.path.relpath(document, ROOT)}: {target} (no such file)")
            elif anchor and anchor not in anchors(resolved):
                broken.append(f"{os.path.relpath(document, ROOT)}: {target} (no such heading)")
    assert checked > 20 and not broken, broken


def test_the_readme_fits_on_a_few_screens_and_lists_every_guide_page():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert readme.count("\n") <= 200
    pages = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))}
    listed = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))
    assert pages <= listed, f"guide pages missing from the README's table: {pages - listed}"
