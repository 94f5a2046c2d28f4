#!/usr/bin/env python3
"""The PostgreSQL manual's HTML pages (Debian's postgresql-doc-15) as text sections, for the demo.

    manual_sections.py HTML_DIR [GLOB ...]  > sections.tsv

One line per section (a page's part under an h2/h3 heading), in COPY's text format:
page file, page title, section heading, text. Paragraphs, list items and program listings become
lines; navigation headers and footers are left out. Standard library only.
"""
import html.parser
import pathlib
import sys

BLOCKS = {"p", "li", "pre", "dt", "dd", "tr", "h1", "h2", "h3", "h4", "table", "div", "br", "blockquote"}
HEADINGS = {"h1", "h2", "h3"}
SKIP_CLASSES = {"navheader", "navfooter", "toc"}


class Sections(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.sections = []  # [heading, [lines]]
        self.current = ["", []]
        self.line = []
        self.heading = None  # text of a heading being read
        self.skip_depth = 0  # > 0 inside a skipped div (navigation)
        self.div_stack = []
        self.in_title = False
        self.in_pre = False

    def flush(self):
        text = "".join(self.line)
        text = text if self.in_pre else " ".join(text.split())
        if text.strip():
            self.current[1].append(text.rstrip())
        self.line = []

    def handle_starttag(self, tag, attrs):
        if tag == "div":
            classes = set((dict(attrs).get("class") or "").split())
            skipped = bool(classes & SKIP_CLASSES) or self.skip_depth > 0
            self.div_stack.append(skipped)
            if skipped:
                self.skip_depth += 1
        if self.skip_depth:
            return
        if tag == "title":
            self.in_title = True
        if tag in BLOCKS:
            self.flush()
        if tag == "pre":
            self.in_pre = True
        if tag in HEADINGS:
            self.heading = []

    def handle_endtag(self, tag):
        if tag == "div" and self.div_stack:
            if self.div_stack.pop():
                self.skip_depth -= 1
                return
        if self.skip_depth:
            return
        if tag == "title":
            self.in_title = False
        if tag in HEADINGS and self.heading is not None:
            heading = " ".join("".join(self.heading).split())
            self.line = []
            self.heading = None
            if self.current[1]:
                self.sections.append(self.current)
            self.current = [heading, []]
            return
        if tag == "pre":
            self.flush()
            self.in_pre = False
        if tag in BLOCKS:
            self.flush()

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        if self.skip_depth or self.in_title:
            return
        if self.heading is not None:
            self.heading.append(data)
        else:
            self.line.append(data)

    def close(self):
        super().close()
        self.flush()
        if self.current[1]:
            self.sections.append(self.current)


def copy_field(value):
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = pathlib.Path(sys.argv[1])
    patterns = sys.argv[2:] or ["*.html"]
    files = sorted({f for p in patterns for f in root.glob(p)})
    out = sys.stdout
    for f in files:
        parser = Sections()
        parser.feed(f.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        title = " ".join(parser.title.split())
        for heading, lines in parser.sections:
            text = "\n".join(lines).strip()
            if len(text) >= 40:
                out.write("\t".join(copy_field(v) for v in (f.name, title, heading, text)) + "\n")


if __name__ == "__main__":
    main()
