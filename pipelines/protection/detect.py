"""Finding personal data inside free text: one registry of entity detectors, each with its
placeholder.

:func:`detect` returns *where* each entity is (``Finding(entity, start, end)``), never the
value, so a caller (a column sampler, a log redactor) can count or mask without copying it.
:func:`redact_text` replaces every finding by its placeholder; :func:`scrub_arrow` does the same
for a whole Arrow array, sending only the texts a cheap vectorised prefilter
(:func:`candidates`) flags through the Python detectors.

Detectors, in order of precedence (an earlier one wins where two overlap):

========  ==============  ===================================================================
entity    placeholder     how
========  ==============  ===================================================================
EMAIL     ``[EMAIL]``     ``local@domain.tld``, and the spelled-out forms ``maria arroba gmail
                          ponto com``, ``jan [at] voorbeeld dot nl``, ``ana (at) mail.com``
                          (at/arroba/apenstaartje, dot/ponto/punt)
URL       ``[URL]``       ``http(s)://...``, ``www....`` and bare domains with a common TLD
IBAN      ``[IBAN]``      country code, check digits, up to 30 letters and digits (groups of
                          four may be spaced), passing ISO 13616's modulo-97 check
CNPJ      ``[CNPJ]``      ``12.345.678/0001-95`` or 14 digits, check digits (``tarja``)
CARD      ``[CARD]``      13-19 digits (spaces, dots or hyphens between) passing Luhn with a
                          known issuer prefix and length (``tarja.validators.cartao``)
CPF       ``[CPF]``       ``123.456.789-09`` or 11 digits, check digits (``tarja``)
BIRTHDATE ``[BIRTHDATE]`` a date right after a birth word (``nasc``, ``born``, ``DOB``,
                          ``geboren``...); other dates are left
IP        ``[IP]``        an IPv4 address (not after ``versão``, ``version``, ``v``...)
PHONE     ``[PHONE]``     ``phonenumbers``' matcher in the source's declared region (numbers
                          with ``+`` in any region), kept when the number is valid, written
                          like a phone (separators, 10+ digits), a Brazilian mobile without
                          area code (``98765-4321``), or preceded by a phone word (``tel``,
                          ``whats``, ``bel``...); dropped after an order/postcode word
HANDLE    ``[HANDLE]``    ``@name`` not part of an e-mail
ADDRESS   ``[ADDRESS]``   street word + name + house number: ``Rua Augusta, 1500``,
                          ``Av. Paulista 1000``, ``221 Baker Street``, ``Kerkstraat 12``
NAME      ``[NAME]``      a frequent first name, then a frequent surname (particles ``da``,
                          ``van der``... between), each capitalised: ``Maria Souza``, ``Jan de
                          Vries``; not after ``São``, ``Santa``, ``Rua``... (a gazetteer from
                          ``names-dataset``: :mod:`pipelines.protection.names`)
========  ==============  ===================================================================

CPF, CNPJ and card numbers written as bare digits right after an order, invoice or product
word (``pedido 52998224725``, ``factuur ...``) are taken for that reference: one random run of
11 digits in a hundred closes a CPF's check digits.

Text is first mapped character for character (same length, so spans stay valid) from
full-width letters, digits and signs, Unicode dashes and no-break spaces to their ASCII forms,
and read without its invisible format characters (zero-width spaces and joiners, soft hyphens:
``ana\u200b@mail.com`` is an e-mail address); a finding's span covers those inside it.

Not detected: names written in lower case or in capitals, names with a first name or surname
outside the gazetteer's (the 500 most frequent of each country it covers), and addresses
without a house number or street word. A named-entity model would find more names, but
spaCy's models do not install from the package registries this project uses, and Presidio
without one has no name or address recognizer (BENCHMARKS.md).
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import phonenumbers

DEFAULT_REGION = "BR"


class Entity(StrEnum):
    EMAIL = "EMAIL"
    URL = "URL"
    IBAN = "IBAN"
    CNPJ = "CNPJ"
    CARD = "CARD"
    CPF = "CPF"
    BIRTHDATE = "BIRTHDATE"
    IP = "IP"
    PHONE = "PHONE"
    HANDLE = "HANDLE"
    ADDRESS = "ADDRESS"
    NAME = "NAME"

    @property
    def placeholder(self) -> str:
        return f"[{self.value}]"


@dataclass(frozen=True, slots=True)
class Finding:
    """Where one entity is: ``text[start:end]``. Carries no value."""

    entity: Entity
    start: int
    end: int


Spans = Iterator[tuple[int, int]]


@dataclass(frozen=True)
class Detector:
    entity: Entity
    find: Callable[[str, str], Spans]  # (normalised text, region) -> spans
    min_digits: int = 0  # skipped on texts with fewer digits (and no "+", for phones)


# --- normalisation: one character in, one character out ---------------------------------

_FOLD: dict[int, int] = {}
_FORMAT = {c for c in range(0xE0000, 0xE0080) if unicodedata.category(chr(c)) == "Cf"}  # tags
for _c in range(0x80, 0x20000):  # one pass: every decimal digit, every format character
    _category = unicodedata.category(chr(_c))
    if _category == "Nd":  # full-width, Arabic-Indic, Devanagari...
        _FOLD[_c] = ord("0") + unicodedata.decimal(chr(_c))
    elif _category == "Cf":
        _FORMAT.add(_c)
_FOLD.update({c: ord("-") for c in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212)})
_FOLD[0x00A0] = ord(" ")  # no-break space (other spaces: the NFKC blocks below)
_NFKC_BLOCKS = (
    range(0x2000, 0x2C00),  # spaces, punctuation, super/subscripts, letterlike, enclosed
    range(0x3000, 0x3040),  # CJK symbols and punctuation
    range(0xFE50, 0xFE70),  # small form variants (﹫)
    range(0xFF00, 0xFFF0),  # half- and full-width forms
    range(0x1D400, 0x1D800),  # mathematical alphanumerics (bold, italic, script...)
    range(0x1F100, 0x1F200),  # enclosed alphanumeric supplement
)
"""Blocks whose characters Unicode's compatibility form (NFKC) maps to one ASCII character;
not Latin-1 (``nº`` and ``ª`` stay what they are)."""
for _block in _NFKC_BLOCKS:
    for _c in _block:
        _ascii = unicodedata.normalize("NFKC", chr(_c))
        if _c not in _FOLD and len(_ascii) == 1 and _ascii.isascii() and _ascii.isprintable():
            _FOLD[_c] = ord(_ascii)
_FOLD.update({0x3002: ord("."), 0xFF61: ord(".")})  # ideographic full stops
_FOLD.update({0xB9: ord("1"), 0xB2: ord("2"), 0xB3: ord("3")})  # Latin-1's superscripts
_CONFUSABLES = dict(
    zip(
        "аеорсухіјѕһԁԛԝӏɡАВЕКМНОРСТХУІЈЅοανρυικΟΑΒΕΖΗΙΚΜΝΡΤΥΧ",
        "aeopcyxijshdqwlgABEKMHOPCTXYIJSoavpuikOABEZHIKMNPTYX",
        strict=True,
    )
)  # the look-alikes are the point
"""Cyrillic and Greek letters that look like Latin ones (``gm\\u0430il.c\\u043em``), read as
those."""
_FOLD.update({ord(k): ord(v) for k, v in _CONFUSABLES.items()})
_INVISIBLE = frozenset(c for c in _FORMAT if c not in _FOLD) | frozenset(
    (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0), 0x034F, 0x2800, 0x115F, 0x1160,
     0x3164, 0xFFA0, 0x180B, 0x180C, 0x180D)
)  # fmt: skip
"""Characters that show nothing: format characters (zero-width space and joiners, soft
hyphen, word joiner, BOM, tags), variation selectors, the combining grapheme joiner, blank
fillers. ``ana\u200b@mail.com`` reads as an e-mail address: detection skips them."""
_INVISIBLE_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_INVISIBLE)) + "]")


def normalise(text: str) -> str:
    """``text`` with every decimal digit, Unicode dash, odd space, compatibility form
    (full-width, mathematical, superscript...) and Latin look-alike in ASCII (same length)."""
    if text.isascii():
        return text  # nothing to fold (no key of _FOLD is ASCII)
    return text.translate(_FOLD)


def _visible(text: str) -> tuple[str, list[int] | None]:
    """``text`` without :data:`_INVISIBLE` characters, and where each kept character was in
    ``text`` (None when there were none)."""
    if text.isascii() or not _INVISIBLE_RE.search(text):
        return text, None
    where = [i for i, c in enumerate(text) if ord(c) not in _INVISIBLE]
    return "".join(text[i] for i in where), where


def _count_digits(text: str) -> int:
    return sum(map(text.count, "0123456789"))


# --- e-mail, URL, handle ------------------------------------------------------------------

_TLDS = (
    "com|net|org|br|nl|be|pt|de|fr|es|it|uk|us|eu|io|co|me|info|biz|edu|gov|app|dev|shop|"
    "store|online|site|email|mail|tv"
)
_LOCAL = r"[\w.%+-]+"
_LABEL = r"[\w-]+"
_EMAIL_RE = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,}}")
_BRACKET_AT = r"\s*[\[({<]\s*(?:at|arroba|apenstaartje|@)\s*[\])}>]\s*"
_WORD_AT = r"\s+(?:at|arroba|apenstaartje)\s+"
_SPACED_AT = r"\s+@\s*|\s*@\s+"  # ana @ mail.com
_BRACKET_DOT = r"\s*[\[({<]\s*(?:dot|ponto|punt|\.)\s*[\])}>]\s*"
_WORD_DOT = r"\s+(?:dot|ponto|punt)\s+"
_DOT = rf"(?:{_BRACKET_DOT}|{_WORD_DOT}|\s*\.\s*)"
_OBFUSCATED_RE = re.compile(
    rf"(?<![\w.+-]){_LOCAL}(?P<at>{_BRACKET_AT}|{_WORD_AT}|{_SPACED_AT}|@){_LABEL}(?:{_DOT}{_LABEL})*"
    rf"{_DOT}(?:{_TLDS})\b",
    re.IGNORECASE,
)
_PLAIN_AT = re.compile(r"\s+at\s+", re.IGNORECASE)
_SPELLED_DOT = re.compile(rf"{_BRACKET_DOT}|{_WORD_DOT}", re.IGNORECASE)


_AT_HINT = re.compile(r"@|(?:\s|[\[({<])(?:at|arroba|apenstaartje)(?:\s|[\])}>])", re.IGNORECASE)
"""What every e-mail form holds (an ``@``, or ``at`` spelled between spaces or brackets): texts
without it skip the two e-mail patterns, which are slow to fail."""


def _emails(text: str, region: str) -> Spans:
    if not _AT_HINT.search(text):
        return
    for m in _EMAIL_RE.finditer(text):
        yield m.span()
    for m in _OBFUSCATED_RE.finditer(text):
        # "cheaper at shop.com" is English, not an address: a plain "at" needs a spelled dot
        if _PLAIN_AT.fullmatch(m.group("at")) and not _SPELLED_DOT.search(m.group(0)):
            continue
        yield m.span()


_URL_RE = re.compile(
    rf"(?:https?://|www\.)[^\s<>\"']+|(?<![\w@.-])(?:[a-z0-9][\w-]*\.)+(?:{_TLDS})\b(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
_URL_TRAILING = ".,;:!?)]}'\""


_URL_HINT = re.compile(rf"://|www\.|\.(?:{_TLDS})\b", re.IGNORECASE)
"""What every URL form holds: texts without it skip ``_URL_RE``, which is slow to fail."""


def _urls(text: str, region: str) -> Spans:
    if not _URL_HINT.search(text):
        return
    for m in _URL_RE.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in _URL_TRAILING:
            end -= 1
        yield start, end


_HANDLE_RE = re.compile(r"(?<![\w@.+-])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?")


def _handles(text: str, region: str) -> Spans:
    if "@" not in text:
        return
    for m in _HANDLE_RE.finditer(text):
        yield m.span()


# --- identifiers with check digits (tarja's validators) -----------------------------------

_CPF_RE = re.compile(r"\d{3}[.\s]?\d{3}[.\s]?\d{3}[-.\s]?\d{2}")
_CNPJ_RE = re.compile(r"\d{2}[.\s]?\d{3}[.\s]?\d{3}[/\s]?\d{4}[-.\s]?\d{2}")
_CARD_RE = re.compile(r"\d(?:(?:[ .-]| {2,3})?\d){12,18}")
_CHAIN = re.compile(r"(?<![\w.+-])\d+(?:(?:[ ./-]| {2,3})\d+)*(?![\w-]|[.,]\d)")
"""Groups of digits joined by separators (one, or up to three spaces): where identifiers are
looked for."""
_GROUP = re.compile(r"\d+")
_MAX_DIGITS = 19
_REFERENCE_WORDS = (
    r"pedido|order|bestelling|bestelnummer|ordernummer|sku|c[oó]digo|code|ref|refer[eê]ncia|"
    r"protocolo|nota|nf|invoice|factuur|ean|rastreio|tracking|track|artikel|serial"
)
_REFERENCE_BEFORE = re.compile(
    rf"\b(?:{_REFERENCE_WORDS})\b(?:\W+\w+)?\W{{0,3}}$|(?:nº|#)\s?$", re.IGNORECASE
)


def _windows(text: str) -> Spans:
    """Every run of whole digit groups of a chain, up to 19 digits: ``2018 4111 1111 1111
    1111`` holds a card number that starts at its second group."""
    for chain in _CHAIN.finditer(text):
        groups = [(g.start(), g.end()) for g in _GROUP.finditer(chain.group(0))]
        base = chain.start()
        for i, (first, _) in enumerate(groups):
            digits = 0
            for start, last in groups[i:]:
                digits += last - start
                if digits > _MAX_DIGITS:
                    break
                yield base + first, base + last


def _tarja(name: str) -> Callable[[str], bool]:
    """``tarja.validators.<name>.is_valid``, imported on first use (importing tarja loads its
    whole package: 0.2 s that a process which never scrubs need not pay)."""

    @cache
    def validator() -> Callable[[str], bool]:
        return importlib.import_module(f"tarja.validators.{name}").is_valid

    def is_valid(value: str) -> bool:
        return validator()(value)

    return is_valid


_cartao = _tarja("cartao")


def _card_valid(value: str) -> bool:
    """Luhn, issuer prefix and length (tarja takes spaces and hyphens between groups; dots are
    written too: ``4539.1773.0194.8269``)."""
    return _cartao(" ".join(value.replace(".", " ").split()))


_CPF_WORD = re.compile(r"\bcpf\b", re.IGNORECASE)


def _dialled(digits: str, before: str, region: str) -> bool:
    """Whether bare ``digits`` after a phone word (``fone: 31990479200``) are a valid phone
    number of ``region``: one in a hundred also closes a CPF's check digits."""
    if not _PHONE_WORDS.search(before) or _CPF_WORD.search(before):
        return False
    import phonenumbers

    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(digits, region))
    except phonenumbers.NumberParseException:
        return False


def _validated(
    pattern: re.Pattern[str], valid: Callable[[str], bool]
) -> Callable[[str, str], Spans]:
    """Matches of ``pattern`` whose check digits ``valid`` accepts; a bare run of digits right
    after an order or invoice word (``pedido 52998224725``) is taken for that reference."""

    def find(text: str, region: str) -> Spans:
        for start, end in _windows(text):
            value = text[start:end]
            if not pattern.fullmatch(value) or not valid(value):
                continue
            if value.isdigit():
                before = text[max(0, start - 30) : start]
                if _REFERENCE_BEFORE.search(before) or _dialled(value, before, region):
                    continue
            yield start, end

    return find


# --- IBAN, IP address, date of birth -------------------------------------------------------

_IBAN_RE = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?!\w)")


def _iban_valid(value: str) -> bool:
    """ISO 13616's check: the rearranged number, letters as 10-35, is 1 modulo 97."""
    compact = value.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def _ibans(text: str, region: str) -> Spans:
    for m in _IBAN_RE.finditer(text):
        value = m.group()
        # a trailing group may be the next word (``... 7318 46 ok``): the longest valid prefix
        for end in range(len(value), 14, -1):
            if value[end - 1] != " " and _iban_valid(value[:end]):
                yield m.start(), m.start() + end
                break


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IP_RE = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")


_VERSION_BEFORE = re.compile(r"(?:\bvers\w*|\bv|\brelease|\bbuild)\W{0,2}$", re.IGNORECASE)


def _ips(text: str, region: str) -> Spans:
    for m in _IP_RE.finditer(text):
        if not _VERSION_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            yield m.span()  # not ``versão 2.1.3.4``


_BIRTH_WORDS = (
    r"nasc\w*|data\s+de\s+nascimento|born|birth(?:day|date)?|date\s+of\s+birth|"
    r"d\.?o\.?b\.?|anivers[aá]rio|geboren|geboortedatum|verjaardag"
)
_BIRTHDATE_RE = re.compile(
    rf"\b(?:{_BIRTH_WORDS})\W{{0,3}}(?:(?:em|on|in|op|:|de|dia)\s+)?"
    r"(?P<date>\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{4}-\d{2}-\d{2})(?!\d)",
    re.IGNORECASE,
)
"""A date right after a birth word (``nasc 17/04/1983``, ``born on 1983-04-17``): other dates
in the text (a delivery, a purchase) are not personal data on their own."""


def _birthdates(text: str, region: str) -> Spans:
    for m in _BIRTHDATE_RE.finditer(text):
        yield m.span("date")


# --- phone numbers (phonenumbers) ---------------------------------------------------------

_PHONE_WORDS = re.compile(
    r"(?:\b(?:tel|tel[eé]fone|fone|cel|celular|whats|whatsapp|wpp|zap|ligue|ligar|liga|"
    r"contato|call|phone|mobile|cell|text|sms|fax|bel|bellen|mobiel|telefoon|nummer|gsm)"
    r"\b[^\w\n]{0,3}(?:\w+[^\w\n]{1,3}){0,2}|\b(?:tel|ph|nr)\.\s?)$",
    re.IGNORECASE,
)
_NOT_PHONE_WORDS = re.compile(
    rf"\b(?:cep|zip|zipcode|postcode|postal|{_REFERENCE_WORDS}|cpf|cnpj|cart[aã]o|card|kaart|"
    r"rg|id)\W{0,3}$|(?:nº|#)\s?$",
    re.IGNORECASE,
)
_STATE_BEFORE = re.compile(r"\b[A-Z]{2}\s$")  # a US state before a ZIP+4 (CA 94105-1234)
_ZIP4 = re.compile(r"\d{5}-\d{4}")
_DATE_RE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_ISO_DATE_IN = re.compile(r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])")
"""A calendar date inside a longer candidate (``[1/1] 2018-01-02``): digits around a date are
a counter, a path or a time, not a phone number."""
_BR_MOBILE_LOCAL = re.compile(r"9\d{4}-\d{4}")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_PHONE_LAYOUT = re.compile(r"[\s()-]")  # not dots alone: 1.234.567


_PHONE_MIN_DIGITS = 7
"""Fewer digits, without +, are never taken for a phone (the prefilter relies on it)."""
_MONEY_BEFORE = re.compile(r"(?:R\$|US\$|[$€£])\s?$")
_DECIMALS_AFTER = re.compile(r"^[.,]\d")


def _looks_like_phone(raw: str, before: str, after: str, number: phonenumbers.PhoneNumber) -> bool:
    import phonenumbers

    if raw.startswith("+"):
        return True
    digits = sum(c.isdigit() for c in raw)
    if _not_phone_shaped(raw, after, digits):
        return False
    valid = phonenumbers.is_valid_number(number)
    if valid and _PHONE_LAYOUT.search(raw):
        return True  # (11) 98765-4321 even after "pedido"
    if _not_phone_context(raw, before):
        return False
    return valid or _phone_by_context(raw, before, digits)


def _not_phone_shaped(raw: str, after: str, digits: int) -> bool:
    """Too few digits, an amount with decimals, or a date."""
    if digits < _PHONE_MIN_DIGITS:
        return True
    if _DECIMALS_AFTER.match(after) or _DATE_RE.fullmatch(raw):  # 14.026,42 / 01-03-2018
        return True
    return bool(_ISO_DATE_IN.search(raw))


def _not_phone_context(raw: str, before: str) -> bool:
    """After a currency or a word that names another number, or a ZIP+4 after a state."""
    if _MONEY_BEFORE.search(before) or _NOT_PHONE_WORDS.search(before):
        return True
    return bool(_ZIP4.fullmatch(raw) and _STATE_BEFORE.search(before))


def _phone_by_context(raw: str, before: str, digits: int) -> bool:
    """Not a valid number for the region, but written or introduced like a phone."""
    if _PHONE_WORDS.search(before) and digits >= 8:
        return True
    if digits >= 10 and _PHONE_SEPARATORS.search(raw):
        return True
    return bool(_BR_MOBILE_LOCAL.fullmatch(raw))


def _phones(text: str, region: str) -> Spans:
    from phonenumbers import Leniency, PhoneNumberMatcher  # imported on first use (0.1 s)

    for m in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
        if text[m.start - 1 : m.start].isalnum() or text[m.end : m.end + 1].isalnum():
            continue  # inside a code such as AA917664881BR
        before = text[max(0, m.start - 30) : m.start]
        if _looks_like_phone(m.raw_string, before, text[m.end : m.end + 2], m.number):
            yield m.start, m.end


# --- street addresses ---------------------------------------------------------------------

_NAME = r"[A-Za-zÀ-ÿ'.]+"
_PT_STREET = (
    r"(?:rua|r\.|avenida|av\.?|alameda|al\.|travessa|tv\.|estrada|estr\.|rodovia|rod\.|"
    r"pra[çc]a|p[çc]a\.|largo|viela|servid[aã]o)"
)
_EN_STREET = (
    r"(?:street|st\.?|road|rd\.?|avenue|ave\.?|lane|ln\.?|drive|dr\.?|boulevard|blvd\.?|"
    r"way|court|ct\.?|place|pl\.?|terrace|square)"
)
_NL_STREET = r"(?:straat|laan|weg|plein|gracht|kade|dijk|singel|steeg|hof|pad|dreef)"
_ADDRESS_RE = re.compile(
    "|".join(
        [
            # Rua Augusta, 1500 / Av. Paulista 1000 / rua das Flores nº 12
            rf"\b(?i:{_PT_STREET})\s+(?:d[aoe]s?\s+)?[A-ZÀ-Ý]{_NAME}(?:\s+{_NAME}){{0,3}}?"
            r",?\s+(?:n[º°o.]*\s*)?\d{1,5}\b",
            # rua augusta 1500 (lower case): the number ends the text or a clause, or an
            # apartment word follows (not "a rua estava fechada por 2 dias")
            rf"\b(?i:{_PT_STREET})\s+(?:d[aoe]s?\s+)?[a-zà-ÿ]{_NAME}(?:\s+{_NAME}){{0,2}}?"
            r",?\s+(?:n[º°o.]*\s*)?\d{1,5}(?=\s*(?:$|[,;.!?)]|\s-|\s(?i:apto?\b|apartamento|casa\b"
            r"|bloco|bl\b|sala\b|cep\b|fundos|andar)))",
            # 221 Baker Street / 1600 Pennsylvania Ave
            rf"\b\d{{1,5}}\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+){{0,3}}\s+(?i:{_EN_STREET})(?!\w)",
            # Kerkstraat 12 / Dorpsweg 5a / Stationsplein 1-3
            rf"\b[A-Z][a-zé]+{_NL_STREET}\s+\d{{1,4}}(?:[-\s]?[a-zA-Z]\b|-\d{{1,4}})?",
            # Van Baerlestraat 27 (two words)
            rf"\b[A-Z][a-z]+\s+[A-Z][a-zé]+{_NL_STREET}\s+\d{{1,4}}\b",
        ]
    )
)


def _addresses(text: str, region: str) -> Spans:
    for m in _ADDRESS_RE.finditer(text):
        yield m.span()


# --- personal names (a gazetteer: no named-entity model) -----------------------------------

_NAME_TOKEN = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ']+"
_NAME_PARTICLE = r"(?:d[aeo]s?|e|van|der|den|ten|ter|von|del|di)"
_NAME_RUN = re.compile(rf"(?<![\w@.]){_NAME_TOKEN}(?:\s+(?:{_NAME_PARTICLE}\s+)*{_NAME_TOKEN})+")
_NAME_WORD = re.compile(_NAME_TOKEN)
_NOT_A_PERSON_BEFORE = frozenset(
    [
        "São",
        "Sao",
        "Santa",
        "Santo",
        "San",
        "Sant",
        "Saint",
        "Sint",
        "St",
        "Vila",
        "Rua",
        "Avenida",
        "Av",
        "Praça",
        "Largo",
        "Travessa",
        "Estrada",
        "Rodovia",
        "Hospital",
        "Colégio",
        "Escola",
        "Shopping",
        "Edifício",
        "Condomínio",
        "Fazenda",
        "Igreja",
        "Bairro",
        "Jardim",
        "Parque",
        "Porto",
        "Ponte",
        "Campo",
        "Nova",
        "Novo",
        "Dom",
    ]
)
"""A first name after these words names a place or a thing (São José dos Campos, Rua Maria
Antônia, Colégio Pedro Segundo, Dom Pedro)."""


def _names(text: str, region: str) -> Spans:
    """A frequent first name followed (particles such as ``da``, ``van der`` allowed) by a
    frequent surname, each capitalised: ``Maria Souza``, ``Ana Paula da Silva``, ``Jan de
    Vries``. The span runs from the first name to the last surname of the run."""
    from pipelines.protection.names import gazetteer

    first, last = gazetteer()
    for run in _NAME_RUN.finditer(text):
        words = [(w.group(), w.start(), w.end()) for w in _NAME_WORD.finditer(run.group())]
        i = 0
        while i < len(words):
            before = words[i - 1][0] if i else ""
            if words[i][0] in first and before not in _NOT_A_PERSON_BEFORE:
                ends = [j for j in range(i + 1, len(words)) if words[j][0] in last]
                if ends:
                    yield run.start() + words[i][1], run.start() + words[ends[-1]][2]
                    i = ends[-1]
            i += 1


DETECTORS: tuple[Detector, ...] = (
    Detector(Entity.EMAIL, _emails),
    Detector(Entity.URL, _urls),
    Detector(Entity.IBAN, _ibans, min_digits=8),  # every country's IBAN has 8+ digits
    Detector(Entity.CNPJ, _validated(_CNPJ_RE, _tarja("cnpj")), min_digits=14),
    Detector(Entity.CARD, _validated(_CARD_RE, _card_valid), min_digits=13),
    Detector(Entity.CPF, _validated(_CPF_RE, _tarja("cpf")), min_digits=11),
    Detector(Entity.BIRTHDATE, _birthdates, min_digits=4),
    Detector(Entity.IP, _ips, min_digits=4),
    Detector(Entity.PHONE, _phones, min_digits=_PHONE_MIN_DIGITS),
    Detector(Entity.HANDLE, _handles),
    Detector(Entity.ADDRESS, _addresses, min_digits=1),  # every form has a house number
    Detector(Entity.NAME, _names),
)
"""Every detector, in order of precedence."""


@cache
def check_region(region: str) -> str:
    """``region`` if ``phonenumbers`` knows it (``BR``, ``US``, ``NL``...), else ValueError."""
    import phonenumbers

    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"{region!r} is not a region phonenumbers knows: use an ISO 3166 alpha-2 code "
            "such as BR, US or NL"
        )
    return region


def detect(text: str, region: str = DEFAULT_REGION) -> list[Finding]:
    """Every entity found in ``text``, in text order, without overlaps.

    ``region`` is where numbers written without ``+`` are dialled (the source's declared
    region); numbers with ``+`` are recognised for any region.
    """
    check_region(region)
    norm, where = _visible(normalise(text))
    digits = _count_digits(norm)
    plus = "+" in norm
    taken: list[Finding] = []
    for detector in DETECTORS:
        if digits < detector.min_digits and not (plus and detector.entity is Entity.PHONE):
            continue  # cheap: most texts have no number long enough
        found = sorted(set(detector.find(norm, region)), key=lambda s: (s[0], -s[1]))
        for start, end in found:
            if end > start and not any(start < f.end and f.start < end for f in taken):
                taken.append(Finding(detector.entity, start, end))
    if where is not None:  # spans in ``text``, invisible characters inside them included
        taken = [Finding(f.entity, where[f.start], where[f.end - 1] + 1) for f in taken]
    return sorted(taken, key=lambda f: f.start)


def redact_text(text: str, region: str = DEFAULT_REGION) -> str:
    """``text`` with every finding replaced by its placeholder (``[EMAIL]``, ``[PHONE]``...)."""
    return mask(text, detect(text, region))


def mask(text: str, findings: list[Finding]) -> str:
    """``text`` with each of ``findings`` (in text order, from :func:`detect`) replaced by
    its placeholder."""
    parts: list[str] = []
    last = 0
    for f in findings:
        parts += [text[last : f.start], f.entity.placeholder]
        last = f.end
    parts.append(text[last:])
    return "".join(parts)


# --- vectorised prefilter -----------------------------------------------------------------


def _re2_class(codes: list[int]) -> str:
    """An RE2 character class of ``codes`` (sorted), as ranges."""
    ranges: list[list[int]] = []
    for c in codes:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "[" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges) + "]"


# RE2's \s and [0-9] are ASCII only; its \p{Nd} and \p{Zs} are slow inside repetitions
_SP = _re2_class([c for c in range(0x3001) if chr(c).isspace() or _FOLD.get(c) == ord(" ")])
_NUM = "[0-9]"
_OTHER_DIGIT = _re2_class(sorted(c for c in _FOLD if chr(_FOLD[c]).isdigit()))
CANDIDATE_PATTERNS = (
    # seven digits, possibly separated (phones, CPF, CNPJ, cards), or + and a digit; any text
    # with a digit other than 0-9 (full-width...)
    r"[0-9](?:[^0-9A-Za-z]{0,4}[0-9]){6}|[+\x{FF0B}][^A-Za-z]{0,3}[0-9]",
    _OTHER_DIGIT,
    # letters, signs and spaces read as ASCII, and invisible characters: rare in real text
    _re2_class(sorted({*(c for c in _FOLD if not chr(_FOLD[c]).isdigit()), *_INVISIBLE})),
    # IP addresses (four numbers), IBANs (letters and digits mixed)
    r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}",
    r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}",
    # a date after a birth word (a short year: fewer than seven digits)
    rf"(?i:{_BIRTH_WORDS}).*[0-9]{{1,2}}[-/.][0-9]{{1,2}}[-/.][0-9]{{2}}",
    # e-mails, handles, URLs
    r"[@\x{FF20}]|(?i:https?:|www[.\x{FF0E}])",
    rf"(?i:[.\x{{FF0E}}](?:{_TLDS})\b)",
    # spelled-out e-mails
    r"(?is:arroba|apenstaartje|[\[({<]\s*at\s*[\])}>]|\bat\b.*\b(?:dot|punt|ponto)\b)",
    # street words before or after a number
    rf"(?is:\b{_PT_STREET}{_SP}.*{_NUM})",
    rf"{_NUM}{_SP}+[A-Z][a-z]+(?:{_SP}+[A-Z][a-z]+){{0,3}}{_SP}+(?i:{_EN_STREET})",
    rf"{_NL_STREET}{_SP}+{_NUM}",
    # two capitalised words, maybe name particles between (names: ``_NAME_RUN``); not any
    # lower-case word, which let a third of the flagged texts through ("Muito bom Nota 10!")
    rf"[A-Z\x{{C0}}-\x{{D6}}\x{{D8}}-\x{{DE}}][a-z\x{{DF}}-\x{{F6}}\x{{F8}}-\x{{FF}}']+{_SP}+"
    rf"(?:{_NAME_PARTICLE}{_SP}+)*[A-Z\x{{C0}}-\x{{D6}}\x{{D8}}-\x{{DE}}]",
)
"""RE2 patterns (Arrow's regex engine): a text matching none of them holds nothing any detector
finds, so it skips the Python detectors. Each is looser than the detectors it stands for (the
property test ``test_prefilter_never_hides_a_finding`` holds them to it). One alternation: one
pass over the text."""
_CANDIDATE = "|".join(f"(?:{p})" for p in CANDIDATE_PATTERNS)


def candidates(values: pa.Array) -> pa.Array:
    """Boolean array: which of ``values`` (strings) may hold an entity (NULL -> false)."""
    hits = pc.match_substring_regex(values, _CANDIDATE)
    # NULL AND false is false (Kleene); pc.fill_null took seconds on the first large array
    return pc.and_kleene(hits, pc.is_valid(hits))


def scrub_arrow(values: pa.Array | pa.ChunkedArray, region: str = DEFAULT_REGION) -> pa.Array:
    """``values`` with :func:`redact_text` applied to every text the prefilter flags."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    check_region(region)
    mask = candidates(values)
    if not pc.any(mask).as_py():
        return values
    flagged = values.filter(mask).to_pylist()
    redacted = pa.array([redact_text(t, region) for t in flagged], values.type)
    return pc.replace_with_mask(values, mask, redacted)


# --- sampling columns that should hold no personal data -----------------------------------

_WORD_TOKEN = r"^[0-9]*[A-Za-z][0-9A-Za-z]*$"
"""One ASCII word of letters and digits with a letter in it (``e481f51cbdc5467...``,
``85123A``): no detector finds anything in it (numbers must not touch a letter, e-mails need
``@``, URLs a dot, addresses a space), yet a third of hexadecimal ids hold seven digits in a
row, which the prefilter lets through (``test_a_word_token_holds_no_finding``)."""


def sample_candidates(values: pa.Array) -> pa.Array:
    """Like :func:`candidates`, and also false for single word tokens (ids, codes): the
    cheap test for columns that should hold no personal data at all."""
    tokens = pc.fill_null(pc.match_substring_regex(values, _WORD_TOKEN), False)
    if pc.all(tokens).as_py():  # a column of ids: the prefilter need not read it again
        return pc.invert(tokens)
    return pc.and_kleene(candidates(values), pc.invert(tokens))


def entities_in(values: pa.Array, region: str = DEFAULT_REGION) -> list[tuple[int, Entity]]:
    """``(index, entity)`` for every entity found in ``values`` (strings), one pair per
    entity type and value; the values themselves are not returned."""
    check_region(region)
    mask = sample_candidates(values)
    if not pc.any(mask).as_py():
        return []
    indices = pc.indices_nonzero(mask).to_pylist()
    texts = values.take(pa.array(indices, pa.int64())).to_pylist()
    found = []
    for index, text in zip(indices, texts, strict=True):
        for entity in sorted({f.entity for f in detect(text, region)}):
            found.append((index, entity))
    return found
