"""Reference answers chosen mechanically: spans of a page's sentences (amounts, percentages, dates, quantities with
their unit, named things, and the predicate of a defining sentence), and the cloze question made from a sentence by
putting a question word where its span was. No model writes an answer: each is a span of the document."""

import re
from dataclasses import dataclass

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_WORDS = r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b"
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"(?:\s?(?:million|billion|thousand|trillion))"
PATTERNS = {
    "amount": rf"\$\s?(?:{_NUMBER}){_SCALE}?",
    "percent": rf"(?:{_NUMBER})\s?(?:%|percent\b)",
    "date": rf"\b(?:{MONTHS})\s+\d{{1,2}},\s+\d{{4}}\b|\b(?:{MONTHS})\s+\d{{4}}\b",
    "quantity": rf"(?<![\w$.,-])(?:{_NUMBER}|{_WORDS}){_SCALE}?(?=\s+[a-zA-Z])",
    "value": r"\b(?:port|version|release|model|channel|step|level|code|VLAN|ID) \d[\d.]*\b",
    "name": r"(?<=[a-z,;] )(?:(?:[A-Z][a-zA-Z&.-]+ (?:(?:of|and|&|for) )?){1,4}[A-Z][a-zA-Z&-]+|"
    r"[A-Z][a-z0-9]*[A-Z][A-Za-z0-9]*\b)",  # several capitalised words, or one such as RelayOS, SNMP, IPv6
}
DEFINITION = re.compile(r"^(?:The |An? )?(\w[\w ,'()-]{2,60}?) (is|are|was|were|means) ([^.;:]{6,120})\.$")
# what stands in for a span in its cloze question
QUESTION_WORDS = {"amount": "how much", "percent": "what percentage", "date": "what date", "name": "what"}
# a number followed by one of these is a measurement: the unit is part of its answer ("65 watts")
UNITS = frozenset(
    "seconds second minutes minute hours hour days day weeks week months month years year watts W V volts baud "
    "Mbps Gbps kbps MB GB TB KB MHz GHz ms mm cm m km kg g lb miles feet inches degrees".split()
)
# after a number these words say it is a value, not a count of anything ("port 22 and ..."): no question
_NOT_A_COUNT = frozenset("and or to of in on at for with by is are was were as than from the a an".split())
# a predicate that opens with these is a passive or adverbial clause, not a definition ("Backups are stored ...")
_NOT_DEFINING = frozenset("not also only usually often always never still set made kept sent shown done given taken "
                          "built held known found run put read seen written paid sold".split())  # fmt: skip
# a defining sentence names a thing first: these open a clause or point back instead ("What is if the Company ...?")
_NOT_A_SUBJECT = frozenset("if unless in our we it its this these those that when while as although because there "
                           "such any all each otherwise addition however our their they he she".split())  # fmt: skip
_LAYOUT = re.compile(r"[*•■●◦|]|Table of Contents|T able|\.{4,}")  # page furniture a PDF reader glues to prose
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")
_YEAR = re.compile(r"^(?:19|20)\d\d$")


@dataclass(frozen=True)
class Span:
    kind: str  # amount, percent, date, quantity, name, definition
    text: str  # the reference answer, as the page has it
    start: int  # its place in the sentence
    end: int


def sentences(page_text: str, shortest: int = 40, longest: int = 240) -> list[str]:
    """The page's sentences that can carry a question: prose of 6 words or more, mostly letters (table rows and
    headings are not sentences), within the lengths given."""
    flat = " ".join(page_text.split())
    out = []
    for s in _SENTENCE_END.split(flat):
        letters = sum(ch.isalpha() for ch in s)
        clean = not _LAYOUT.search(s) and not any(ord(ch) < 32 for ch in s)  # a NUL where a ligature was
        prose = len(s.split()) >= 6 and letters >= 0.5 * len(s) and s[-1] in ".!?" and clean
        if shortest <= len(s) <= longest and prose:
            out.append(s)
    return list(dict.fromkeys(out))


def find_spans(sentence: str) -> list[Span]:
    """Every candidate answer in one sentence, left to right, overlaps dropped (the first kind listed wins)."""
    found: list[Span] = []
    for kind, pattern in PATTERNS.items():
        for m in re.finditer(pattern, sentence):
            span = _usable(kind, sentence, m.start(), m.group(0).strip())
            if span is not None and not any(span.start < s.end and s.start < span.end for s in found):
                found.append(span)
    definition = DEFINITION.match(sentence)
    if definition and not found and _defines(definition):
        found.append(Span("definition", definition.group(3).strip(), definition.start(3), definition.end(3)))
    return sorted(found, key=lambda s: s.start)


def _defines(match: re.Match) -> bool:
    """ "X is Y" defines X, unless Y opens a passive or adverbial clause ("are stored", "is not") or X holds a
    capitalised article (a heading glued to the sentence: "Overview The Relay is ...")."""
    first, subject = match.group(3).split()[0].lower(), match.group(1)
    glued = re.search(r"\b(?:The|A|An)\b", subject) is not None
    named = "," not in subject and len(subject.split()) <= 6 and subject.split()[0].lower() not in _NOT_A_SUBJECT
    return named and not glued and first not in _NOT_DEFINING and not first.endswith("ed")


def _usable(kind: str, sentence: str, start: int, text: str) -> Span | None:
    """A match as a span, or None where it is not an answer: a year or a name's number taken for a count, a value
    that counts nothing, a name that opens the sentence or follows a capitalised word."""
    before = sentence[:start].split()
    if kind == "name":
        if not before or not before[-1].rstrip(",;").islower():
            return None
        if text.startswith("The "):
            text, start = text[4:], start + 4
    if kind == "value":
        return Span(kind, text, start, start + len(text))
    if kind == "quantity":
        after = sentence[start + len(text) :].split()
        word = after[0].strip(",.;:")
        if _YEAR.match(text) or _after_name(sentence, start) or word.lower() in _NOT_A_COUNT:
            return None
        if word in UNITS:
            text = f"{text} {word}"
        elif not word.islower():  # "737 MAX", "32.2 Certification": a name's number, not a count
            return None
    return Span(kind, text, start, start + len(text))


def _after_name(sentence: str, start: int) -> bool:
    """A number that follows a capitalised word mid-sentence is part of a name ("Relay 400", "Form 10"), no count."""
    words = sentence[:start].split()
    return len(words) > 1 and words[-1][:1].isupper()


def cloze(sentence: str, span: Span) -> str:
    """The sentence as a question: the span replaced by a question word, the full stop by a question mark."""
    if span.kind == "definition":
        match = DEFINITION.match(sentence)
        assert match is not None  # a definition span comes from this pattern
        subject = sentence[: match.start(2)].strip()
        return f"What {match.group(2)} {subject[0].lower() + subject[1:]}?"
    if span.kind == "quantity":
        word = "how many" + (f" {span.text.split()[-1]}" if span.text.split()[-1] in UNITS else "")
    elif span.kind == "value":  # "port 8443" -> "which port"
        word = "which " + span.text.split()[0]
    else:
        word = QUESTION_WORDS[span.kind]
    before, after = sentence[: span.start], sentence[span.end :]
    if span.kind == "name" and before.endswith(("the ", "The ")):  # "the United States Air Force" -> "what"
        before = before[:-4]
    if not before.strip():
        word = word[0].upper() + word[1:]
    text = f"{before}{word}{after}".strip()
    return re.sub(r"[\s.!?]+$", "", text) + "?"
