#!/usr/bin/env python3
"""Extract the complete SIP messages printed in RFC 3261 section 24 and in
RFC 3665 into one fixture file per message, for the sipline-message corpus
tests (crates/sipline-message/tests/corpus.rs).

    python3 tools/extract_rfc_messages.py [--rfc-dir DIR] [--out DIR]

Defaults: --rfc-dir /work/shared/rfc, --out crates/sipline-message/tests/data
(relative to the repository root, found from this file's location).

Output:
  <out>/rfc3261/<section>-<label>.sip   e.g. rfc3261/24.1-F1.sip
  <out>/rfc3665/<section>-<label>.sip   e.g. rfc3665/3.1-F1.sip
  <out>/MANIFEST                        every RFC fixture written, one a line
  <out>/edge/*.sip, <out>/edge/EXPECT   the hand-written edge and hostile
                                        corpus (the EDGE table at the end)
  <out>/README.md                       how the fixtures were made, what was
                                        skipped and why, which Content-Length
                                        values were rewritten

What the script does to the RFC text, and nothing more:
  * drops page breaks: the footer line ("Johnston, et al. ... [Page N]"),
    the form feed, the page header ("RFC 3665 ... December 2003") and the
    blank lines padding them, even when they fall inside a message;
  * removes the message's indentation (that of its start line; continuation
    lines keep the extra white space that makes them continuations) and
    trailing white space;
  * writes every line with CRLF: head lines, then CRLF (the empty line),
    then the body, each body line CRLF-terminated;
  * CONTENT-LENGTH IS RECOMPUTED: the Content-Length values printed in the
    RFCs often disagree with the bodies printed next to them (errata, and
    white space lost in formatting), so the value of the Content-Length
    header is replaced by the byte count of the body as written to the
    fixture (body lines CRLF-terminated). Every rewrite is listed in
    README.md.

Everything else (header order, folding, placeholder bodies such as RFC 3261's
"(Alice's SDP not shown)") is kept as printed. The "/* ... */" comments of
RFC 3665 lie between messages and are not part of any message. Messages that
do not follow the RFC 3261 grammar, or break one of its MUSTs that a strict
parser checks, are skipped and listed in README.md with the reason (SKIP
below); labels with no message printed under them ("Same as Message F1") are
listed too.
"""

import argparse
import os
import re
import shutil
import sys

# (rfc, section, label) -> reason. Each must be met during extraction.
SKIP = {
    ("rfc3665", "2.1", "F3"): (
        "Authorization lacks the comma between realm=\"atlanta.example.com\" and "
        "nonce=... (folded onto the next line), so the value does not match "
        "RFC 3261 digest-response = dig-resp *(COMMA dig-resp)."
    ),
    ("rfc3665", "2.5", "F1"): (
        "REGISTER without Max-Forwards: RFC 3261 §8.1.1 says a UAC MUST "
        "insert Max-Forwards into every request; a strict parse rejects it "
        "(\"missing Max-Forwards header\")."
    ),
    ("rfc3665", "3.9", "F6"): (
        "Status line printed as \"SIP/2.0  486 Busy Here\" with two spaces "
        "after the version; RFC 3261 §7.2 Status-Line = SIP-Version SP "
        "Status-Code SP Reason-Phrase."
    ),
    ("rfc3665", "3.9", "F8"): (
        "Status line printed as \"SIP/2.0  486 Busy Here\" with two spaces "
        "after the version; RFC 3261 §7.2 Status-Line = SIP-Version SP "
        "Status-Code SP Reason-Phrase."
    ),
    ("rfc3665", "3.9", "F10"): (
        "Status line printed as \"SIP/2.0  486 Busy Here\" with two spaces "
        "after the version; RFC 3261 §7.2 Status-Line = SIP-Version SP "
        "Status-Code SP Reason-Phrase."
    ),
    ("rfc3665", "3.10", "F4"): (
        "The second Record-Route value is printed on a line of its own without "
        "leading white space, so it is not a continuation line (RFC 3261 "
        "§7.3.1) but a header line without a header name."
    ),
}

MONTHS = ("January|February|March|April|May|June|July|August|September|"
          "October|November|December")
FOOTER = re.compile(r"^\S.*\s\[Page \d+\]\s*$")
HEADER = re.compile(r"^RFC \d+\s{2,}.*\s(?:" + MONTHS + r") \d{4}\s*$")
FORMFEED = re.compile(r"^\f\s*$")
SECTION = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+\S")
LABEL = re.compile(r"^\s*(F\d+)\s+\S")
# Loose on purpose: a start line that breaks the grammar must still be seen
# as one, so that its message is reported (SKIP) rather than lost.
START_LINE = re.compile(
    r"^(?:SIP/\d+\.\d+\s+\d+\b.*|[A-Za-z][A-Za-z0-9.!%*_+`'~-]*\s+\S+\s+SIP/\d+\.\d+)$")
STRICT_START_LINE = re.compile(
    r"^(?:SIP/2\.0 \d{3} .*|[A-Za-z][A-Za-z0-9.!%*_+`'~-]* \S+ SIP/2\.0)$")
HEADER_LINE = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+[ \t]*:")
SDP_LINE = re.compile(r"^[a-z]=")
PLACEHOLDER_BODY = re.compile(r"^\(.*\)$")  # RFC 3261 §24.2 "(Alice's SDP not shown)"

PAGEBREAK = object()

# Where the whole messages are.
SCOPES = {
    # RFC 3261: §24 only (the §20 examples are single header fields).
    "rfc3261": (re.compile(r"^24 Examples"), re.compile(r"^25 ")),
    # RFC 3665: §2 (registration) and §3 (session establishment).
    "rfc3665": (re.compile(r"^2\.  SIP Registration"), re.compile(r"^4\.  ")),
}


class ExtractError(Exception):
    pass


def logical_lines(text):
    """The lines of an RFC text with each page break replaced by PAGEBREAK
    and the blank lines around it dropped; trailing white space removed."""
    raw = text.split("\n")
    out = []
    i = 0
    while i < len(raw):
        line = raw[i]
        if FOOTER.match(line):
            # drop the blank padding before the footer
            while out and out[-1] == "":
                out.pop()
            j = i + 1
            while j < len(raw) and (raw[j].strip() == "" or FORMFEED.match(raw[j])):
                j += 1
            if j < len(raw) and HEADER.match(raw[j]):
                j += 1
            while j < len(raw) and raw[j].strip() == "":
                j += 1
            out.append(PAGEBREAK)
            i = j
            continue
        if FORMFEED.match(line):
            i += 1
            continue
        out.append(line.rstrip())
        i += 1
    return out


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def next_content(lines, i):
    """Index of the next line that is neither blank nor a page break."""
    while i < len(lines) and (lines[i] is PAGEBREAK or lines[i] == ""):
        i += 1
    return i


def strip_indent(line, base, where):
    if line.strip() and indent_of(line) < base:
        raise ExtractError(f"{where}: line less indented than the start line: {line!r}")
    return line[base:]


def read_message(lines, i, where):
    """Reads the message whose start line is lines[i]. Returns (head lines,
    body lines, index after the message)."""
    base = indent_of(lines[i])
    head = [lines[i][base:]]
    bad = []  # head lines that are neither header lines nor continuations
    i += 1
    # head
    while i < len(lines):
        line = lines[i]
        if line == "":
            break
        if line is PAGEBREAK:
            j = next_content(lines, i)
            nxt = lines[j] if j < len(lines) else ""
            if nxt and indent_of(nxt) >= base and (
                    indent_of(nxt) > base or HEADER_LINE.match(nxt[base:])):
                i = j
                continue
            break  # the page break stands for the empty line ending the head
        text = strip_indent(line, base, where)
        if not (text[:1] in (" ", "\t") or HEADER_LINE.match(text)):
            bad.append(text)
        head.append(text)
        i += 1
    names = [h.split(":", 1)[0].strip().lower() for h in head[1:] if h[:1] not in (" ", "\t")]
    printed_cl = None
    for h in head[1:]:
        if h[:1] not in (" ", "\t") and h.split(":", 1)[0].strip().lower() in ("content-length", "l"):
            printed_cl = int(h.split(":", 1)[1].strip())
    wants_body = "content-type" in names or "c" in names or (printed_cl or 0) > 0
    body = []
    j = next_content(lines, i)
    if wants_body:
        if j >= len(lines):
            raise ExtractError(f"{where}: body expected, end of text found")
        i = j
        while i < len(lines):
            line = lines[i]
            if line == "":
                break
            if line is PAGEBREAK:
                k = next_content(lines, i)
                if k < len(lines) and SDP_LINE.match(lines[k][base:]) and indent_of(lines[k]) == base:
                    i = k
                    continue
                break
            text = strip_indent(line, base, where)
            if not (SDP_LINE.match(text) or (not body and PLACEHOLDER_BODY.match(text))):
                if not body:
                    raise ExtractError(f"{where}: body expected, found {line!r}")
                break
            body.append(text)
            i += 1
    elif j < len(lines) and SDP_LINE.match(lines[j].strip()):
        raise ExtractError(f"{where}: SDP after a message with no Content-Type: {lines[j]!r}")
    return head, body, i, printed_cl, bad


def rewrite_content_length(head, body_bytes):
    out = []
    seen = 0
    for h in head:
        if h[:1] not in (" ", "\t") and ":" in h:
            name, _ = h.split(":", 1)
            if name.strip().lower() in ("content-length", "l"):
                seen += 1
                h = f"{name}: {len(body_bytes)}"
        out.append(h)
    return out, seen


def extract(rfc, text):
    """Yields (section, label, head, body, printed Content-Length) and
    (section, label, None, reason, None) for labels without a message."""
    lines = logical_lines(text)
    begin, end = SCOPES[rfc]
    i = 0
    while i < len(lines) and not (lines[i] is not PAGEBREAK and begin.match(lines[i])):
        i += 1
    if i == len(lines):
        raise ExtractError(f"{rfc}: start of scope not found")
    section = None
    while i < len(lines):
        line = lines[i]
        if line is PAGEBREAK or line == "":
            i += 1
            continue
        if end.match(line):
            return
        m = SECTION.match(line)
        if m:
            section = m.group(1)
            i += 1
            continue
        m = LABEL.match(line)
        if m and "->" in line:
            label = m.group(1)
            where = f"{rfc} {section} {label}"
            j = next_content(lines, i + 1)
            if j < len(lines) and START_LINE.match(lines[j].strip()):
                head, body, i, printed_cl, bad = read_message(lines, j, where)
                if not STRICT_START_LINE.match(head[0]):
                    bad.insert(0, head[0])
                if bad and (rfc, section, label) not in SKIP:
                    raise ExtractError(f"{where}: not header lines: {bad!r}")
                yield section, label, head, body, printed_cl
            else:
                what = lines[j].strip() if j < len(lines) else "end of text"
                yield section, label, None, f"no message printed, only {what!r}", None
                i = j
            continue
        i += 1


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rfc-dir", default="/work/shared/rfc")
    ap.add_argument("--out", default=os.path.join(root, "crates/sipline-message/tests/data"))
    args = ap.parse_args()

    manifest = []
    skipped = []  # (rfc, section, label, reason)
    rewritten = []  # (file, printed, actual)
    missing_cl = []
    seen_skips = set()
    for rfc in ("rfc3261", "rfc3665"):
        with open(os.path.join(args.rfc_dir, rfc + ".txt"), encoding="utf-8") as f:
            text = f.read()
        outdir = os.path.join(args.out, rfc)
        if os.path.isdir(outdir):
            shutil.rmtree(outdir)
        os.makedirs(outdir)
        names = set()
        for section, label, head, body, printed_cl in extract(rfc, text):
            key = (rfc, section, label)
            if head is None:
                skipped.append((rfc, section, label, body))
                continue
            if key in SKIP:
                seen_skips.add(key)
                skipped.append((rfc, section, label, SKIP[key]))
                continue
            name = f"{section}-{label}.sip"
            if name in names:
                raise ExtractError(f"{rfc}: two messages named {name}")
            names.add(name)
            body_bytes = "".join(b + "\r\n" for b in body).encode("utf-8")
            head, n_cl = rewrite_content_length(head, body_bytes)
            rel = f"{rfc}/{name}"
            if n_cl == 0:
                missing_cl.append(rel)
            elif printed_cl != len(body_bytes):
                rewritten.append((rel, printed_cl, len(body_bytes)))
            data = "\r\n".join(head).encode("utf-8") + b"\r\n\r\n" + body_bytes
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(data)
            manifest.append(rel)
    unmet = set(SKIP) - seen_skips
    if unmet:
        raise ExtractError(f"skip entries never met: {sorted(unmet)}")

    def sort_key(rel):
        rfc, name = rel.split("/")
        sec, label = name[:-4].rsplit("-", 1)
        return (rfc, [int(x) for x in sec.split(".")], int(label[1:]))

    manifest.sort(key=sort_key)
    with open(os.path.join(args.out, "MANIFEST"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(m + "\n" for m in manifest))
    write_readme(args.out, manifest, skipped, rewritten, missing_cl)
    write_edge(args.out)
    counts = {}
    for m in manifest:
        counts[m.split("/")[0]] = counts.get(m.split("/")[0], 0) + 1
    for rfc, n in sorted(counts.items()):
        print(f"{rfc}: {n} fixtures")
    print(f"skipped: {len(skipped)}; Content-Length rewritten: {len(rewritten)}")


def write_readme(out, manifest, skipped, rewritten, missing_cl):
    counts = {}
    for m in manifest:
        counts[m.split("/")[0]] = counts.get(m.split("/")[0], 0) + 1
    r = []
    r.append("# sipline-message test corpus\n")
    r.append("`tests/corpus.rs` runs the parser over every file here.\n")
    r.append("## rfc3261/, rfc3665/: messages from the RFCs\n")
    r.append("Generated by `tools/extract_rfc_messages.py` (run it from the repository\n"
             "root; it replaces `rfc3261/`, `rfc3665/`, `edge/`, `MANIFEST` and this\n"
             "file; `python3 tools/extract_rfc_messages.py --help`). One\n"
             "file per complete message printed in RFC 3261 §24 (Examples) and in\n"
             "RFC 3665 §2 and §3, named `<section>-<label>.sip`, e.g. `rfc3665/3.1-F1.sip`\n"
             "for message F1 of RFC 3665 §3.1. `MANIFEST` lists every file written.\n")
    r.append("Counts: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + ".\n")
    r.append("The text is as the RFC prints it, except:\n")
    r.append("- page breaks (footer, form feed, page header, padding) are removed, also\n"
             "  where they fall inside a message;\n"
             "- the message's indentation is removed (continuation lines keep the extra\n"
             "  white space that makes them continuations), and trailing white space;\n"
             "- every line ends with CRLF; an empty line separates head and body; each\n"
             "  body line is CRLF-terminated;\n"
             "- **Content-Length is recomputed** from the body bytes so written. The\n"
             "  values printed in the RFCs often disagree with the bodies (errata, and\n"
             "  white space lost in formatting); the script rewrites every\n"
             "  Content-Length header. The ones that changed are listed below.\n")
    r.append("Bodies are kept as printed: SDP in RFC 3665, and the placeholder\n"
             "`(Alice's SDP not shown)` / `(Bob's SDP not shown)` with\n"
             "`Content-Type: application/sdp` in RFC 3261 §24.2 (a valid SIP body, though\n"
             "not valid SDP). Header folding is kept as printed. The `/* ... */` comments\n"
             "of RFC 3665 are between messages and are not part of any fixture.\n")
    r.append("`tests/corpus.rs` parses each of these strictly, runs `validate(true)`,\n"
             "checks that `parse(to_bytes(m)) == m`, that `to_bytes` gives back the\n"
             "fixture byte for byte (for a fixture with folded rows: the fixture with\n"
             "each fold joined by one SP, as RFC 3261 §7.3.1 reads it, since rows are\n"
             "serialized on one line), and some typed fields (top Via branch with the\n"
             "z9hG4bK cookie, CSeq method, From tag, Content-Length equal to the body).\n"
             "It also checks that the files on disk are those in `MANIFEST` and that\n"
             "their number is the one written in the test: after regenerating, update\n"
             "`RFC3261_FIXTURES` / `RFC3665_FIXTURES` there if the counts change.\n")
    r.append("### Messages not extracted\n")
    r.append("| RFC | section | label | reason |\n|---|---|---|---|\n" + "".join(
        f"| {rfc} | {sec} | {label} | {reason.replace('|', '/')} |\n"
        for rfc, sec, label, reason in skipped))
    r.append("### Content-Length values rewritten\n")
    r.append("| file | printed | actual body bytes |\n|---|---|---|\n" + "".join(
        f"| {rel} | {p} | {a} |\n" for rel, p, a in rewritten))
    unchanged = sorted(set(counts) - {rel.split("/")[0] for rel, _, _ in rewritten})
    if unchanged:
        r.append("In " + ", ".join(unchanged) + " every printed Content-Length matched "
                 "the body (the header was rewritten all the same).\n")
    if missing_cl:
        r.append("Messages printed without Content-Length (left so): "
                 + ", ".join(missing_cl) + "\n")
    r.append(EDGE_README)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(r))




# ---------------------------------------------------------------------------
# edge/: the hand-written edge and hostile corpus. Each entry is
# (file name, message bytes, expectation); the files are written byte for
# byte, so CRLFs, bare LFs, NULs and non-UTF-8 bytes are exact. Expectation
# "ok" means the parse succeeds; "error:<text>" means it fails and the error's
# Display text contains <text>. Files named strict-* are parsed with
# ParseOptions { strict: true, .. }, the others with the defaults (tolerant,
# datagram).

EDGE_README = """## edge/: hand-written edge and hostile cases

Written by the same script (the `EDGE` table at its end), byte for byte, so
CRLFs, bare LFs, NUL and non-UTF-8 bytes are exact. One message per file.
`edge/EXPECT` has one line per file: `<file><TAB>ok` (the parse succeeds) or
`<file><TAB>error:<text>` (it fails and the error's Display text contains
`<text>`). Files whose name starts with `strict-` are parsed with
`ParseOptions { strict: true, .. }`, the others with the defaults (tolerant,
datagram). Cases marked 4475 in the script follow the RFC 4475 torture tests.
"""

CRLF = b"\r\n"


def msg(start, headers, body=b"", eol=CRLF, content_length=True):
    """A message: start line, header lines (str or bytes), Content-Length of
    the body unless told otherwise, empty line, body."""
    lines = [start] + list(headers)
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    out = b""
    for line in lines:
        out += (line.encode("utf-8") if isinstance(line, str) else line) + eol
    return out + eol + body


def common(method="OPTIONS", cseq=None, via="SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"):
    return [
        f"Via: {via}",
        "Max-Forwards: 70",
        "To: Bob <sip:bob@biloxi.example.com>",
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
        f"CSeq: 63104 {cseq or method}",
    ]


def resp_common(method="INVITE"):
    return [
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1",
        "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
        f"CSeq: 314159 {method}",
    ]


OPTIONS = "OPTIONS sip:bob@biloxi.example.com SIP/2.0"
SDP = (b"v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n"
       b"s=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\n"
       b"a=rtpmap:0 PCMU/8000\r\n")

# An ISUP IAM as in RFC 3204 / RFC 3372 SIP-T bodies: binary, not UTF-8, with
# NUL, CR, LF, CRLFCRLF and 0x80-0xFF bytes inside.
ISUP = bytes([
    0x01, 0x00, 0x49, 0x00, 0x00, 0x03, 0x02, 0x00, 0x07, 0x04, 0x10, 0x00,
    0x33, 0x63, 0x21, 0x43, 0x00, 0x00, 0x03, 0x06, 0x0d, 0x03, 0x80, 0x90,
    0xa2, 0x07, 0x03, 0x10, 0x03, 0x63, 0x53, 0x00, 0x0d, 0x0a, 0x0d, 0x0a,
    0xff, 0xfe, 0x00, 0x0a, 0x2d, 0x2d, 0xc3, 0x28, 0x0d, 0x00,
])
MULTIPART = (
    b"--unique-boundary-1\r\n"
    b"Content-Type: application/sdp\r\n\r\n" + SDP +
    b"--unique-boundary-1\r\n"
    b"Content-Type: application/ISUP; version=nxv3; base=etsi121\r\n"
    b"Content-Disposition: signal; handling=optional\r\n\r\n" + ISUP + b"\r\n"
    b"--unique-boundary-1--\r\n"
)

LONG = "x" * 4000
WSINV_BODY = (b"v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.4\r\n"
              b"t=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\n"
              b"a=rtpmap:31 LPC\r\n")

EDGE = [
    # -- header forms ------------------------------------------------------
    ("compact-forms.sip", msg("INVITE sip:bob@biloxi.example.com SIP/2.0", [
        "v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8",
        "Max-Forwards: 70",
        "t: Bob <sip:bob@biloxi.example.com>",
        "f: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        "i: a84b4c76e66710",
        "CSeq: 314159 INVITE",
        "m: <sip:alice@pc33.atlanta.example.com>",
        "c: application/sdp",
        "s: compact subject",
        "k: 100rel",
        "e: identity",
        f"l: {len(SDP)}",
    ], SDP, content_length=False), "ok"),
    ("strict-compact-forms.sip", msg("INVITE sip:bob@biloxi.example.com SIP/2.0", [
        "v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8",
        "Max-Forwards: 70",
        "t: Bob <sip:bob@biloxi.example.com>",
        "f: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        "i: a84b4c76e66710",
        "CSeq: 314159 INVITE",
        "m: <sip:alice@pc33.atlanta.example.com>",
        "c: application/sdp",
        f"l: {len(SDP)}",
    ], SDP, content_length=False), "ok"),
    # RFC 3261 §7.3.1: folding with SP and with HT
    ("folded-sp-ht.sip", msg(OPTIONS, common() + [
        "Subject: I know you're there,",
        "               pick up the phone",
        "\t\tand talk to me!",
        "Contact: <sip:alice@pc33.atlanta.example.com>,",
        "\t<sip:alice@192.0.2.101>",
    ]), "ok"),
    ("strict-folded-via.sip", msg(OPTIONS, [
        "Via: SIP/2.0/UDP pc33.atlanta.example.com",
        " ;branch=z9hG4bK776asdhds",
        "\t;received=192.0.2.1",
    ] + common()[1:]), "ok"),
    ("odd-case-names.sip", msg(OPTIONS, [
        "vIA: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
        "max-FORWARDS: 70",
        "TO: Bob <sip:bob@biloxi.example.com>",
        "fRoM: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        "call-id: a84b4c76e66710@pc33.atlanta.example.com",
        "cseq: 63104 OPTIONS",
    ], content_length=False) .replace(b"\r\n\r\n", b"\r\nCONTENT-LENGTH: 0\r\n\r\n"), "ok"),
    # RFC 3261 §7.3.1: the four equivalent Subject forms
    ("subject-1.sip", msg(OPTIONS, common() + ["Subject:            lunch"]), "ok"),
    ("subject-2.sip", msg(OPTIONS, common() + ["Subject      :      lunch"]), "ok"),
    ("subject-3.sip", msg(OPTIONS, common() + ["Subject            :lunch"]), "ok"),
    ("subject-4.sip", msg(OPTIONS, common() + ["Subject: lunch"]), "ok"),
    ("multi-via.sip", msg(OPTIONS, [
        "Via: SIP/2.0/UDP proxy1.example.com;branch=z9hG4bK1a, SIP/2.0/TCP proxy2.example.com:5061;branch=z9hG4bK2b",
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds ,SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK3c;received=192.0.2.1",
    ] + common()[1:]), "ok"),
    ("strict-multi-via.sip", msg(OPTIONS, [
        "Via: SIP/2.0/UDP proxy1.example.com;branch=z9hG4bK1a, SIP/2.0/TCP proxy2.example.com:5061;branch=z9hG4bK2b",
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
    ] + common()[1:]), "ok"),
    ("unknown-headers.sip", msg(OPTIONS, common() + [
        "X-Custom: some value, with a comma",
        "P-Weird-Header: a;b=c",
        "NewFangledHeader:   newfangled value",
        " continued newfangled value",
        "UnknownHeaderWithUnusualValue: ;;,,;;,;",
        "X-Empty:",
    ]), "ok"),
    # -- start lines -------------------------------------------------------
    ("utf8-reason.sip", msg("SIP/2.0 200 Très bien — d'accord ☺", resp_common()), "ok"),
    ("status-699.sip", msg("SIP/2.0 699 Something Nobody Has Heard Of", resp_common()), "ok"),
    ("empty-reason.sip", msg("SIP/2.0 100 ", resp_common()), "ok"),
    ("extension-method.sip", msg("FOOBAR sip:bob@biloxi.example.com SIP/2.0", common("FOOBAR")), "ok"),
    ("strict-extension-method.sip", msg("FOOBAR sip:bob@biloxi.example.com SIP/2.0", common("FOOBAR")), "ok"),
    ("lowercase-version.sip", msg("OPTIONS sip:bob@biloxi.example.com sip/2.0", common()), "ok"),
    # -- line ends and framing ---------------------------------------------
    ("bare-lf.sip", msg(OPTIONS, common(), eol=b"\n"), "ok"),
    ("leading-crlf.sip", b"\r\n\r\n\r\n" + msg(OPTIONS, common()), "ok"),
    ("no-content-length-datagram.sip", msg("MESSAGE sip:bob@biloxi.example.com SIP/2.0",
        common("MESSAGE") + ["Content-Type: text/plain"], content_length=False)
        + b"Watson, come here.\r\nI want to see you.\r\n", "ok"),
    ("content-length-shorter.sip", msg("MESSAGE sip:bob@biloxi.example.com SIP/2.0",
        common("MESSAGE") + ["Content-Type: text/plain", "Content-Length: 7"], content_length=False)
        + b"Watson, come here.\r\n", "ok"),
    ("content-length-longer.sip", msg("MESSAGE sip:bob@biloxi.example.com SIP/2.0",
        common("MESSAGE") + ["Content-Type: text/plain", "Content-Length: 150"], content_length=False)
        + b"Watson, come here.\r\n", "error:Content-Length larger than the body"),
    ("content-length-negative.sip", msg(OPTIONS, common() + ["Content-Length: -1"], content_length=False),
        "error:malformed Content-Length header"),
    ("content-length-nonnumeric.sip", msg(OPTIONS, common() + ["Content-Length: zero"], content_length=False),
        "error:malformed Content-Length header"),
    ("content-length-11-digits.sip", msg(OPTIONS, common() + ["Content-Length: 99999999999"], content_length=False),
        "error:malformed Content-Length header"),
    ("content-length-huge.sip", msg(OPTIONS, common() + ["Content-Length: 4294967295"], content_length=False),
        "error:message too large"),
    ("content-length-duplicate.sip", msg("MESSAGE sip:bob@biloxi.example.com SIP/2.0",
        common("MESSAGE") + ["Content-Type: text/plain", "Content-Length: 4", "l: 20"], content_length=False)
        + b"Watson, come here.\r\n", "error:duplicate Content-Length"),
    # -- hostile bytes -----------------------------------------------------
    ("nul-in-header.sip", msg(OPTIONS, common() + [b"Subject: a\x00b"]), "error:control character"),
    ("del-in-header.sip", msg(OPTIONS, common() + [b"Subject: a\x7fb"]), "error:control character"),
    ("bare-cr-in-header.sip", msg(OPTIONS, common() + [b"Subject: a\rb"]), "error:control character"),
    ("non-utf8-header.sip", msg(OPTIONS, common() + [b"Subject: \xff\xfe\xc3\x28"]), "error:not valid UTF-8"),
    ("header-without-colon.sip", msg(OPTIONS, common() + ["This line has no colon"]), "error:malformed header line"),
    ("header-name-with-space.sip", msg(OPTIONS, common() + ["Bad Name: value"]), "error:malformed header line"),
    ("empty-header-name.sip", msg(OPTIONS, common() + [": value"]), "error:malformed header line"),
    ("continuation-first.sip", msg(OPTIONS, [" ;branch=z9hG4bK776asdhds"] + common()),
        "error:continuation line"),
    ("status-99.sip", msg("SIP/2.0 99 Too Low", resp_common()), "error:invalid status code"),
    ("status-1000.sip", msg("SIP/2.0 1000 Too High", resp_common()), "error:invalid status code"),
    ("status-letters.sip", msg("SIP/2.0 2x0 OK", resp_common()), "error:invalid status code"),
    ("status-no-space.sip", msg("SIP/2.0 200OK", resp_common()), "error:invalid status code"),
    ("sip-3.0-request.sip", msg("OPTIONS sip:bob@biloxi.example.com SIP/3.0", common()),
        "error:unsupported SIP-Version"),
    ("sip-3.0-response.sip", msg("SIP/3.0 200 OK", resp_common()), "error:unsupported SIP-Version"),
    ("request-no-version.sip", msg("OPTIONS sip:bob@biloxi.example.com", common()), "error:malformed"),
    # 4475 §3.1.2.5 lwsstart, §3.1.2.6 trws: extra white space in the request line
    # tolerant reading accepts runs of spaces in the start line (RFC 3665 §3.9
    # prints one), strict reading does not
    ("request-line-double-space.sip", msg("OPTIONS  sip:bob@biloxi.example.com SIP/2.0", common()),
        "ok"),
    ("strict-request-line-double-space.sip", msg("OPTIONS  sip:bob@biloxi.example.com SIP/2.0", common()),
        "error:malformed"),
    ("request-line-trailing-space.sip", msg("OPTIONS sip:bob@biloxi.example.com SIP/2.0 ", common()),
        "error:malformed"),
    ("empty.sip", b"\r\n\r\n\r\n", "error:empty message"),
    ("incomplete-head.sip", msg(OPTIONS, common()).split(b"\r\n\r\n")[0] + b"\r\n",
        "error:incomplete message"),
    ("line-too-long.sip", msg(OPTIONS, common() + ["Subject: " + "y" * 9000]), "error:line too long"),
    ("too-many-headers.sip", msg(OPTIONS, common() + [f"X-Row: {i}" for i in range(300)]),
        "error:too many header fields"),
    # -- bodies ------------------------------------------------------------
    # SIP-T (RFC 3372, RFC 3204): multipart/mixed with SDP and a binary ISUP part
    ("sipt-multipart-isup.sip", msg("INVITE sip:+12125551212@gateway.example.com;user=phone SIP/2.0",
        common("INVITE") + [
            "Contact: <sip:alice@pc33.atlanta.example.com>",
            "MIME-Version: 1.0",
            "Content-Type: multipart/mixed; boundary=unique-boundary-1",
        ], MULTIPART), "ok"),
    ("strict-sipt-multipart-isup.sip", msg("INVITE sip:+12125551212@gateway.example.com;user=phone SIP/2.0",
        common("INVITE") + [
            "Contact: <sip:alice@pc33.atlanta.example.com>",
            "MIME-Version: 1.0",
            "Content-Type: multipart/mixed; boundary=unique-boundary-1",
        ], MULTIPART), "ok"),
    # -- strict checks -----------------------------------------------------
    ("strict-cseq-mismatch.sip", msg("INVITE sip:bob@biloxi.example.com SIP/2.0", common("INVITE", "BYE")),
        "error:CSeq method does not match"),
    ("strict-missing-call-id.sip", msg(OPTIONS, [h for h in common() if not h.startswith("Call-ID")]),
        "error:missing Call-ID header"),
    ("strict-missing-max-forwards.sip", msg(OPTIONS, [h for h in common() if not h.startswith("Max-Forwards")]),
        "error:missing Max-Forwards header"),
    ("strict-max-forwards-256.sip", msg(OPTIONS, [h.replace("70", "256") if h.startswith("Max") else h
                                                  for h in common()]),
        "error:malformed Max-Forwards header"),
    ("strict-two-call-ids.sip", msg(OPTIONS, common() + ["Call-ID: another@pc33.atlanta.example.com"]),
        "error:duplicate Call-ID header"),
    ("strict-cseq-not-numeric.sip", msg(OPTIONS, [h.replace("63104", "abc") for h in common()]),
        "error:malformed CSeq header"),
    # -- RFC 4475-like -----------------------------------------------------
    # 4475 §3.1.1.1 wsinv: white space where it may be (tolerant only)
    ("4475-wsinv.sip", msg("INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0", [
        "TO :",
        " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
        "from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>",
        "  ;",
        "  tag = 98asjd8",
        "MaX-fOrWaRdS: 0068",
        "Call-ID: wsinv.ndaksdj@192.0.2.1",
        "Content-Length   : %d" % len(WSINV_BODY),
        "cseq: 0009",
        "  INVITE",
        "Via  : SIP  /   2.0",
        " /UDP",
        "    192.0.2.2;rport;branch=390skdjuw",
        "s :",
        "NewFangledHeader:   newfangled value",
        " continued newfangled value",
        "UnknownHeaderWithUnusualValue: ;;,,;;,;",
        "Content-Type: application/sdp",
        "Route:",
        " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
        "v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
        "  branch  =   z9hG4bK9ikj8  ,",
        " SIP  /    2.0   / UDP  192.168.255.111   ; branch=",
        " z9hG4bK30239",
        "m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =",
        "      newvalue ;",
        "  secondparam ; q = 0.33",
    ], WSINV_BODY, content_length=False), "ok"),
    # 4475 §3.1.1.2 intmeth: unusual but valid tokens everywhere
    ("4475-intmeth.sip", msg("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0", [
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
        "To: \"BEL NUL DEL\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>",
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.",
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
        "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~",
        "Max-Forwards: 255",
        "extensionHeader-!.%*+_`'~:\ufeff大停電",
    ]), "ok"),
    # 4475 §3.1.1.2 intmeth as printed: the To display name holds BEL, NUL and DEL
    # as quoted-pairs, which RFC 3261 §25.1 allows (quoted-pair = "\\" (%x00-09 /
    # %x0B-0C / %x0E-7F))
    ("4475-intmeth-quoted-controls.sip", msg("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0", [
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
        "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>",
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.",
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
        "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~",
        "Max-Forwards: 255",
        "extensionHeader-!.%*+_`'~:\ufeff大停電",
    ]), "ok"),
    # 4475 §3.1.1.3 esc01: escaped characters in URIs
    ("4475-esc01.sip", msg("INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0", [
        "To: sip:%75se%72@example.com",
        "From: <sip:I%20have%20spaces@example.net>;tag=938",
        "Max-Forwards: 87",
        "i: esc01.239409asdfakjkn23onasd0-3234",
        "CSeq: 234234 INVITE",
        "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
        "C: application/sdp",
        "Contact:",
        "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
    ], b"v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
       b"t=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\n"
       b"a=rtpmap:31 LPC\r\n"), "ok"),
    # 4475 §3.1.1.4 escnull: escaped NULs in URIs
    ("4475-escnull.sip", msg("REGISTER sip:example.com SIP/2.0", [
        "To: sip:null-%00-null@example.com",
        "From: sip:null-%00-null@example.com;tag=839923423",
        "Max-Forwards: 70",
        "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
        "CSeq: 14398234 REGISTER",
        "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
        "Contact: <sip:%00@host5.example.com>",
        "Contact: <sip:%00%00@host5.example.com>",
        "L:0",
    ], content_length=False), "ok"),
    # 4475 §3.1.1.5 esc02: % in a method is a token character
    ("4475-esc02.sip", msg("RE%47IST%45R sip:registrar.example.com SIP/2.0", [
        "To: \"%Z%45\" <sip:resource@example.com>",
        "From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23",
        "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
        "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3",
        "CSeq: 3923239 RE%47IST%45R",
        "Max-Forwards: 70",
        "Contact: <sip:alias1@host1.example.com>",
        "Contact: <sip:alias%32@host2.example.com>",
        "Contact: <sip:alias%33@host3.example.com>",
    ]), "ok"),
    # 4475 §3.1.1.6 lwsdisp: no LWS between display name and <
    ("4475-lwsdisp.sip", msg("OPTIONS sip:user@example.com SIP/2.0", [
        "To: sip:user@example.com",
        "From: caller<sip:caller@example.com>;tag=323",
        "Max-Forwards: 70",
        "Call-ID: lwsdisp.1234abcd@funky.example.com",
        "CSeq: 60 OPTIONS",
        "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
    ]), "ok"),
    # 4475 §3.1.1.7 longreq: long values, many rows
    ("4475-longreq.sip", msg("INVITE sip:user@example.com SIP/2.0", [
        "To: \"I have a user name of " + "extreme" * 20 + " proportion\"<sip:user@example.com:6000;unknownparam1=very" + "long" * 60 + "value;longparam" + "name" * 30 + "=shortvalue>",
        "F: sip:" + "amazinglylongcallername" * 10 + "@example.net;tag=12" + "982" * 60 + "424",
        "Call-ID: longreq.one" + "really" * 80 + "longcallid",
        "CSeq: 3882340 INVITE",
        "Unknown-" + "Long" * 30 + "-Name: unknown-" + "long" * 30 + "-value; unknown-" + "long" * 30 + "-parameter-name = unknown-" + "long" * 30 + "-parameter-value",
    ] + [f"Via: SIP/2.0/TCP sip{i}.example.com;branch=z9hG4bK{i:04d}" for i in range(40)] + [
        "Max-Forwards: 70",
        "Contact: <sip:amazinglylongcallername" + "x" * 200 + "@host5.example.net>",
        "Subject: " + LONG,
    ]), "ok"),
    # 4475 §3.1.1.11 (mpart01-like) is sipt-multipart-isup.sip above.
    # 4475 §3.1.1.12 unreason: unusual reason phrase
    ("4475-unreason.sip", msg("SIP/2.0 200 = 2**3 * 5**2 \xd0\xbd\xd0\xbe \xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd0\xbd\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe \xd0\xb4\xd0\xb5\xd0\xb2\xd1\x8f\xd1\x82\xd1\x8c - \xd0\xbf\xd1\x80\xd0\xbe\xd1\x81\xd1\x82\xd0\xbe\xd0\xb5".encode("latin-1").decode("utf-8"), [
        "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
        "Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
        "CSeq: 35 INVITE",
        "From: sip:user@example.com;tag=11141343",
        "To: sip:user@example.edu;tag=2229",
        "Contact: <sip:user@host198.example.com>",
    ]), "ok"),
    # 4475 §3.1.1.13 noreason: empty reason phrase is empty-reason.sip above
    # 4475 §3.1.1.8 dblreq-like is not a parser matter; 3.1.1.9 semiuri:
    ("4475-semiuri.sip", msg("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0", [
        "To: sip:j_user@example.com",
        "From: sip:caller@example.org;tag=33242",
        "Max-Forwards: 3",
        "Call-ID: semiuri.0ha0isndaksdj",
        "CSeq: 8 OPTIONS",
        "Accept: application/sdp, application/pkcs7-mime,",
        "        multipart/mixed, multipart/signed,",
        "        message/sip, message/sipfrag",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
    ]), "ok"),
    # 4475 §3.1.1.10 transports: unusual transports in Via
    ("4475-transports.sip", msg("OPTIONS sip:user@example.com SIP/2.0", [
        "To: sip:user@example.com",
        "From: <sip:caller@example.com>;tag=323",
        "Max-Forwards: 70",
        "Call-ID: transports.kijh4akdnaqjkwendsasfdj",
        "Accept: application/sdp",
        "CSeq: 60 OPTIONS",
        "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
        "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
        "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
        "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
        "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
    ]), "ok"),
    # 4475 §3.1.1.14 noreason: unknown scheme in the Request-URI (unksm-like, valid)
    ("4475-unknown-scheme.sip", msg("OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0", [
        "To: sip:user@example.com",
        "From: sip:caller@example.net;tag=384",
        "Max-Forwards: 3",
        "Call-ID: unksm2.daksdj@hyphenated-host.example.com",
        "CSeq: 3923239 OPTIONS",
        "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw",
    ]), "ok"),
    # 4475 §3.1.1.10-ish novelsc: novel schemes in name-addrs
    ("4475-novelsc.sip", msg("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0", [
        "To: sip:user@example.com",
        "From: <http://www.example.com>;tag=otun98",
        "Max-Forwards: 3",
        "Call-ID: novelsc.asdfasser0q239nwsdfasdkl34",
        "CSeq: 3923423 OPTIONS",
        "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bK1324923",
    ]), "ok"),
    # 4475 §4.1, §4.2, §4.3: IPv6 references in the Request-URI and Via
    ("4475-ipv6-good.sip", msg("REGISTER sip:[2001:db8::10] SIP/2.0", [
        "To: sip:user@example.com",
        "From: sip:user@example.com;tag=81x2",
        "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111",
        "Call-ID: SSG9559905523997077@hlau_4100",
        "Max-Forwards: 70",
        "Contact: \"Caller\" <sip:caller@[2001:db8::1]>",
        "CSeq: 98176 REGISTER",
    ]), "ok"),
    ("4475-ipv6-port.sip", msg("REGISTER sip:[2001:db8::10]:5070 SIP/2.0", [
        "To: sip:user@example.com",
        "From: sip:user@example.com;tag=81x2",
        "Via: SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3-111",
        "Call-ID: SSG9559905523997077@hlau_4100",
        "Max-Forwards: 70",
        "Contact: \"Caller\" <sip:caller@[2001:db8::1]:5060>",
        "CSeq: 98176 REGISTER",
    ]), "ok"),
    ("4475-ipv6-received.sip", msg("OPTIONS sip:[2001:db8::10] SIP/2.0", [
        "To: sip:user@example.com",
        "From: sip:user@example.com;tag=81x2",
        "Via: SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111",
        "Call-ID: SSG9559905523997077@hlau_4100",
        "Max-Forwards: 70",
        "Contact: \"Caller\" <sip:caller@[2001:db8::9:1]>",
        "CSeq: 98176 OPTIONS",
    ]), "ok"),
    ("strict-4475-ipv6-port.sip", msg("REGISTER sip:[2001:db8::10]:5070 SIP/2.0", [
        "To: sip:user@example.com",
        "From: sip:user@example.com;tag=81x2",
        "Via: SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3-111",
        "Call-ID: SSG9559905523997077@hlau_4100",
        "Max-Forwards: 70",
        "Contact: \"Caller\" <sip:caller@[2001:db8::1]:5060>",
        "CSeq: 98176 REGISTER",
    ]), "ok"),
    # 4475 §3.1.2.8 badvers
    ("4475-badvers.sip", msg("OPTIONS sip:t.watson@example.org SIP/7.0", [
        "Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
        "Max-Forwards: 70",
        "From: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
        "To: T. Watson <sip:t.watson@example.org>",
        "Call-ID: badvers.31417@c.example.com",
        "CSeq: 1 OPTIONS",
    ]), "error:unsupported SIP-Version"),
    # 4475 §3.1.2.1 mcl01: several different Content-Lengths
    ("4475-mcl01.sip", msg("OPTIONS sip:user@example.com SIP/2.0", [
        "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423",
        "To: sip:user@example.com",
        "From: sip:other@example.net;tag=3923942",
        "Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf",
        "CSeq: 15932 OPTIONS",
        "Content-Length: 13",
        "Max-Forwards: 60",
        "Content-Length: 5",
        "Content-Type: text/plain",
    ], b"There's no way to know how many octets are supposed to be here.\r\n",
        content_length=False), "error:duplicate Content-Length"),
    # 4475 §3.1.2.3 ncl: negative Content-Length
    ("4475-ncl.sip", msg("INVITE sip:user@example.com SIP/2.0", [
        "Max-Forwards: 254",
        "To: sip:j.user@example.com",
        "From: sip:caller@example.net;tag=32394234",
        "Call-ID: ncl.0ha0isndaksdj2193423r542w35",
        "CSeq: 0 INVITE",
        "Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw",
        "Contact: <sip:caller@example53.example.net>",
        "Content-Type: application/sdp",
        "Content-Length: -999",
    ], b"v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.53\r\ns=-\r\n", content_length=False),
        "error:malformed Content-Length header"),
]


def write_edge(out):
    d = os.path.join(out, "edge")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    names = set()
    expect = []
    for name, data, exp in EDGE:
        if name in names or "\t" in name or not name.endswith(".sip"):
            raise ExtractError(f"edge: bad or duplicate name {name!r}")
        if not (exp == "ok" or exp.startswith("error:")):
            raise ExtractError(f"edge: bad expectation {exp!r}")
        names.add(name)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        expect.append(f"{name}\t{exp}\n")
    with open(os.path.join(d, "EXPECT"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(expect))
    print(f"edge: {len(EDGE)} files")


if __name__ == "__main__":
    try:
        main()
    except ExtractError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
