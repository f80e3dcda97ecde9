"""A labelled corpus for :mod:`pipelines.protection.detect`: Portuguese, English and Dutch
snippets, generated deterministically (templates x values from a seeded RNG, identifiers with
valid check digits), with every entity's span marked; plus hard negatives (order ids, prices,
dates, postcodes, product codes) that hold nothing, and the red team's missed forms verbatim.

Used by ``test_protection_detect.py`` (recall and precision per entity must meet the aim) and
by ``bench/detect.py`` (writes the table in BENCHMARKS.md).
"""

# ruff: noqa: RUF001  (full-width digits and en dashes are what these tests are about)
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tarja.validators import cartao, cnpj, cpf

from pipelines.protection.detect import Entity, Finding, detect

SEED = 13
REGIONS = {"pt": "BR", "en": "US", "nl": "NL"}


@dataclass(frozen=True)
class Snippet:
    text: str
    language: str
    spans: tuple[tuple[Entity, int, int], ...]  # (entity, start, end) of every value

    @property
    def region(self) -> str:
        return REGIONS[self.language]


def build(language: str, *parts: str | tuple[Entity, str]) -> Snippet:
    """A snippet from literal text and ``(entity, value)`` parts."""
    text, spans = "", []
    for part in parts:
        if isinstance(part, tuple):
            entity, value = part
            spans.append((entity, len(text), len(text) + len(value)))
            text += value
        else:
            text += part
    return Snippet(text, language, tuple(spans))


def _digits(rng: random.Random, n: int, first: str = "0123456789") -> str:
    return rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(n - 1))


# --- values -------------------------------------------------------------------------------


def gen_cpf(rng: random.Random) -> str:
    base = _digits(rng, 9, "123456789")
    v = base + cpf.compute_check_digits(base)
    return rng.choice(
        [
            f"{v[:3]}.{v[3:6]}.{v[6:9]}-{v[9:]}",
            f"{v[:3]}.{v[3:6]}.{v[6:9]}-{v[9:]}",
            v,
            f"{v[:3]} {v[3:6]} {v[6:9]} {v[9:]}",
            f"{v[:9]}-{v[9:]}",
        ]
    )


def gen_cnpj(rng: random.Random) -> str:
    base = _digits(rng, 8, "123456789") + rng.choice(["0001", "0002", "0003"])
    v = base + cnpj.compute_check_digits(base)
    return rng.choice(
        [f"{v[:2]}.{v[2:5]}.{v[5:8]}/{v[8:12]}-{v[12:]}", v, f"{v[:2]}.{v[2:5]}.{v[5:8]}/{v[8:]}"]
    )


def gen_card(rng: random.Random) -> str:
    prefix, length = rng.choice(
        [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)]
    )
    body = prefix + _digits(rng, length - len(prefix) - 1)
    v = body + cartao.luhn_check_digit(body)
    sep = rng.choice([" ", "-", "", ".", "  "])
    if length == 15:
        return sep.join([v[:4], v[4:10], v[10:]])
    return sep.join(v[i : i + 4] for i in range(0, 16, 4))


_IBAN_COUNTRIES = {"DE": 18, "NL": 14, "BR": 25, "GB": 18, "PT": 21, "FR": 23, "ES": 20}
"""Country -> BBAN length (digits; NL and GB start with a bank code of four letters)."""


def gen_iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_IBAN_COUNTRIES))
    length = _IBAN_COUNTRIES[country]
    letters = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
    bban = (letters + _digits(rng, length - 4)) if country in ("NL", "GB") else _digits(rng, length)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    v = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return rng.choice([v, " ".join(v[i : i + 4] for i in range(0, len(v), 4))])


def gen_ip(rng: random.Random) -> str:
    return ".".join(str(rng.randint(first, 254)) for first in (1, 0, 0, 1))


def gen_birthdate(rng: random.Random) -> str:
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1940, 2006)
    return rng.choice(
        [f"{day:02d}/{month:02d}/{year}", f"{day}/{month}/{year}", f"{year}-{month:02d}-{day:02d}",
         f"{day:02d}.{month:02d}.{year}", f"{day:02d}-{month:02d}-{year % 100:02d}"]
    )  # fmt: skip


_FIRST = ["maria", "joao", "ana", "pedro", "jan", "sanne", "pieter", "john", "emily", "lucas"]
_LAST = ["silva", "souza", "devries", "jansen", "smith", "oliveira", "bakker", "costa"]
_DOMAINS = {
    "pt": ["gmail.com", "uol.com.br", "hotmail.com", "bol.com.br", "empresa.com.br"],
    "en": ["gmail.com", "yahoo.com", "outlook.com", "example.org", "mail.co.uk"],
    "nl": ["ziggo.nl", "kpnmail.nl", "gmail.com", "voorbeeld.nl", "hetnet.nl"],
}
_SPELLED = {
    "pt": [(" arroba ", " ponto "), (" [arroba] ", " [ponto] "), (" (at) ", ".")],
    "en": [(" [at] ", " [dot] "), (" at ", " dot "), (" (at) ", " (dot) "), ("[at]", ".")],
    "nl": [(" apenstaartje ", " punt "), (" [at] ", " dot "), (" (at) ", " punt ")],
}


def _local(rng: random.Random) -> str:
    sep = rng.choice([".", "_", "", "-"])
    tail = rng.choice(["", str(rng.randint(1, 99))])
    return f"{rng.choice(_FIRST)}{sep}{rng.choice(_LAST)}{tail}"


def gen_email(rng: random.Random, language: str) -> str:
    domain = rng.choice(_DOMAINS[language])
    if rng.random() < 0.6:
        local = _local(rng)
        return f"{local.title() if rng.random() < 0.1 else local}@{domain}"
    at, dot = rng.choice(_SPELLED[language])
    local = rng.choice(_FIRST) + rng.choice(["", "." + rng.choice(_LAST)])
    return local + at + domain.replace(".", dot)


_DDD = ["11", "21", "31", "41", "47", "51", "61", "71", "81", "85", "19", "27", "48", "62"]
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def gen_phone(rng: random.Random, language: str) -> str:
    if language == "pt":
        ddd, a, b = rng.choice(_DDD), _digits(rng, 4, "6789"), _digits(rng, 4)
        land = _digits(rng, 4, "2345")
        dash = rng.choice(["-", "-", "–"])
        phone = rng.choice(
            [
                f"({ddd}) 9{a}{dash}{b}",
                f"({ddd}) 9 {a}-{b}",
                f"{ddd} 9 {a} {b}",
                f"{ddd} 9{a} {b}",
                f"{ddd}9{a}{b}",
                f"+55 {ddd} 9{a}-{b}",
                f"+55 ({ddd}) 9{a}-{b}",
                f"+55{ddd}9{a}{b}",
                f"0{ddd} 9{a}-{b}",
                f"({ddd}) {land}-{b}",
                f"{ddd} {land}-{b}",
                f"9{a}{dash}{b}",
            ]
        )
    elif language == "en":
        area = _digits(rng, 1, "23456789") + _digits(rng, 2)
        exchange, line = _digits(rng, 3, "0123456789"), _digits(rng, 4)
        phone = rng.choice(
            [
                f"({area}) {exchange}-{line}",
                f"{area}-{exchange}-{line}",
                f"{area}.{exchange}.{line}",
                f"+1 {area} {exchange} {line}",
                f"+1-{area}-{exchange}-{line}",
                f"1-{area}-{exchange}-{line}",
                f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
            ]
        )
    else:
        mobile = _digits(rng, 8, "123458")
        phone = rng.choice(
            [
                f"06-{mobile}",
                f"06 {mobile[:4]} {mobile[4:]}",
                f"06{mobile}",
                f"+31 6 {mobile}",
                f"+31 (0)6 {mobile[:4]} {mobile[4:]}",
                f"+316{mobile}",
                f"020-{_digits(rng, 7, '23456789')}",
                f"010 {_digits(rng, 3, '23456789')} {_digits(rng, 4)}",
                f"0{rng.choice(['30', '70', '40'])}-{_digits(rng, 7, '23456789')}",
            ]
        )
    return phone.translate(_FULL_WIDTH) if rng.random() < 0.04 else phone


def gen_url(rng: random.Random, language: str) -> str:
    domain = rng.choice(["minhaloja", "shop", "winkel", "bestdeals", "achados", "fotos"])
    tld = {"pt": "com.br", "en": "com", "nl": "nl"}[language]
    path = rng.choice(["", "/produto/123", "/p?id=9981", "/review", "/x/abc-def"])
    return rng.choice(
        [
            f"https://www.{domain}.{tld}{path}",
            f"http://{domain}.{tld}{path}",
            f"www.{domain}.{tld}",
            f"{domain}.{tld}{path}",
            f"https://bit.ly/{_digits(rng, 3)}xZ",
        ]
    )


def gen_handle(rng: random.Random) -> str:
    return "@" + rng.choice(_FIRST) + rng.choice(["_", ".", ""]) + rng.choice(_LAST)


_STREET_NAMES = ["Augusta", "Paulista", "Brasil", "Sete de Setembro", "Oscar Freire", "Flores"]
_EN_NAMES = ["Baker", "Oak", "Maple", "Main", "Elm", "Sunset", "Park"]
_NL_NAMES = ["Kerk", "Dorps", "Stations", "Molen", "Prinsen", "Heeren", "School"]


def gen_address(rng: random.Random, language: str) -> str:
    n = str(rng.randint(1, 2999))
    if language == "pt":
        street = rng.choice(["Rua", "Av.", "Avenida", "Alameda", "Travessa", "rua", "R."])
        name = rng.choice(_STREET_NAMES)
        name = f"das {name}" if name == "Flores" else name
        return rng.choice(
            [f"{street} {name}, {n}", f"{street} {name} {n}", f"{street} {name}, nº {n}"]
        )
    if language == "en":
        kind = rng.choice(["Street", "St", "St.", "Road", "Rd", "Avenue", "Ave", "Lane", "Drive"])
        return f"{n} {rng.choice(_EN_NAMES)} {kind}"
    kind = rng.choice(["straat", "laan", "weg", "plein", "gracht", "kade"])
    suffix = rng.choice(["", "", "a", "b", "-2"])
    return f"{rng.choice(_NL_NAMES)}{kind} {rng.randint(1, 299)}{suffix}"


_PERSON = {
    "pt": (
        ["Maria", "João", "Ana", "Pedro", "Francisca", "Luiz", "Juliana", "Marcos", "Adriana",
         "Rafael", "Cláudia", "Gervásio", "Josefa", "Cledson"],
        ["Silva", "Souza", "Oliveira", "Santos", "Ferreira", "Almeida", "Carvalho", "Ribeiro",
         "Gonçalves", "Bortolotto", "Tavares", "Nascimento"],
        ["", "da ", "dos ", "de "],
    ),
    "en": (
        ["John", "Emily", "Michael", "Sarah", "David", "Jennifer", "Robert", "Laura", "Kevin",
         "Thaddeus", "Imogen"],
        ["Smith", "Johnson", "Williams", "Brown", "Taylor", "Wilson", "Walker", "Hughes",
         "Featherstonehaugh", "Thompson"],
        [""],
    ),
    "nl": (
        ["Jan", "Sanne", "Pieter", "Monique", "Henk", "Linda", "Jeroen", "Esther", "Willem",
         "Wouter", "Femke"],
        ["Jansen", "Vries", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Dekker", "Bos",
         "Zwanenburg", "Brouwer"],
        ["", "de ", "van ", "van der ", "van den "],
    ),
}  # fmt: skip
"""First names and surnames for NAME positives: mostly frequent ones, a few rare ones the
gazetteer does not hold (Gervásio, Cledson, Bortolotto, Thaddeus, Imogen, Featherstonehaugh,
Femke, Zwanenburg): recall is measured on both."""


def gen_name(rng: random.Random, language: str) -> str:
    firsts, lasts, particles = _PERSON[language]
    parts = [rng.choice(firsts)]
    if rng.random() < 0.25:
        parts.append(rng.choice(firsts))
    surname = rng.choice(particles) + rng.choice(lasts)
    if language == "nl" and not surname.startswith(("de ", "van ")) and rng.random() < 0.3:
        surname = "de Vries" if rng.random() < 0.5 else surname
    return " ".join([*parts, surname])


# --- templates ----------------------------------------------------------------------------

Value = Callable[[random.Random, str], str]
VALUES: dict[Entity, Value] = {
    Entity.CPF: lambda rng, lang: gen_cpf(rng),
    Entity.CNPJ: lambda rng, lang: gen_cnpj(rng),
    Entity.CARD: lambda rng, lang: gen_card(rng),
    Entity.EMAIL: gen_email,
    Entity.PHONE: gen_phone,
    Entity.URL: gen_url,
    Entity.HANDLE: lambda rng, lang: gen_handle(rng),
    Entity.ADDRESS: gen_address,
    Entity.NAME: gen_name,
    Entity.IBAN: lambda rng, lang: gen_iban(rng),
    Entity.IP: lambda rng, lang: gen_ip(rng),
    Entity.BIRTHDATE: lambda rng, lang: gen_birthdate(rng),
}

TEMPLATES: dict[Entity, dict[str, list[str]]] = {
    Entity.CPF: {
        "pt": ["meu cpf é {}", "CPF: {} (titular)", "nota no nome de {}, favor corrigir", "{}"],
        "en": ["my Brazilian tax id {} is on the invoice", "CPF {}"],
        "nl": ["mijn CPF is {}", "CPF-nummer {} staat op de factuur"],
    },
    Entity.CNPJ: {
        "pt": ["CNPJ da loja: {}", "empresa {} não respondeu", "nota fiscal emitida por {}"],
        "en": ["seller CNPJ {} never answered", "company id {}"],
        "nl": ["verkoper met CNPJ {} reageert niet"],
    },
    Entity.CARD: {
        "pt": ["paguei com o cartão {} e foi cobrado 2x", "cartao {}", "{} venc 10/27"],
        "en": ["charged twice on card {}", "my card number {}, please refund", "{} exp 12/26"],
        "nl": ["twee keer afgeschreven van kaart {}", "creditcard {}"],
    },
    Entity.EMAIL: {
        "pt": ["me manda um email: {}", "contato {} obrigado", "escreve pra {}.", "{}"],
        "en": ["email me at {} please", "reach me: {}", "my address is {}."],
        "nl": ["mail mij op {}", "stuur een bericht naar {} aub", "e-mail: {}"],
    },
    Entity.PHONE: {
        "pt": [
            "me liga no {}",
            "whats {} qualquer coisa",
            "tel {}",
            "{} falar com Ana",
            "fone: {}",
        ],
        "en": ["call me at {}", "my phone is {} thanks", "text {} anytime", "{} after 5pm"],
        "nl": ["bel mij op {}", "mijn nummer is {}", "telefoon: {}", "{} na 17 uur"],
    },
    Entity.URL: {
        "pt": ["vi mais barato em {} hoje", "link: {}", "olha {}"],
        "en": ["cheaper at {} today", "see {} for photos"],
        "nl": ["goedkoper op {}", "zie {}"],
    },
    Entity.HANDLE: {
        "pt": ["me segue no insta {}", "falem com {} no twitter"],
        "en": ["follow {} for updates", "DM me {}"],
        "nl": ["volg {} op instagram"],
    },
    Entity.ADDRESS: {
        "pt": ["entregaram na {} e não aqui", "moro na {} apto 3", "endereço: {}, São Paulo"],
        "en": ["delivered to {} instead", "I live at {}, Springfield"],
        "nl": ["bezorgd op de {} in plaats van hier", "mijn adres: {}, Utrecht"],
    },
    Entity.IBAN: {
        "pt": ["reembolso na conta IBAN {} por favor", "minha conta {}"],
        "en": ["refund to IBAN {}", "my account {}, thanks"],
        "nl": ["terugbetalen op {} graag", "rekening {}"],
    },
    Entity.IP: {
        "pt": ["acessei do ip {} ontem", "meu ip {}"],
        "en": ["logged in from {} twice", "IP address {}"],
        "nl": ["ingelogd vanaf {}"],
    },
    Entity.BIRTHDATE: {
        "pt": ["nasc {} cliente antigo", "data de nascimento: {}", "nasci em {}"],
        "en": ["born on {}", "date of birth: {}", "DOB {} on file"],
        "nl": ["geboren op {}", "geboortedatum {}"],
    },
    Entity.NAME: {
        "pt": [
            "entregue para {} na portaria",
            "cliente {} reclamou do atraso",
            "Att, {}",
            "{} comprou duas unidades",
        ],
        "en": ["delivered to {} at the front desk", "Regards, {}", "ask for {} at the store"],
        "nl": ["bezorgd bij {} aan de deur", "Groeten, {}", "vraag naar {} bij de balie"],
    },
}

PER_TEMPLATE = 12  # values drawn for each template


def _positives(rng: random.Random) -> list[Snippet]:
    out = []
    for entity, by_language in TEMPLATES.items():
        for language, templates in by_language.items():
            for template in templates:
                before, after = template.split("{}")
                for _ in range(PER_TEMPLATE):
                    value = VALUES[entity](rng, language)
                    out.append(build(language, before, (entity, value), after))
    return out


def _mixed(rng: random.Random) -> list[Snippet]:
    """Two entities in one text, with a line break, in every language."""
    out = []
    lead = {"pt": "Produto chegou quebrado!!\nFalem comigo: ", "en": "Broken on arrival.\nContact: ",
            "nl": "Kapot aangekomen.\nContact: "}  # fmt: skip
    joiner = {"pt": " ou ", "en": " or ", "nl": " of "}
    for language in ("pt", "en", "nl"):
        for _ in range(25):
            email, phone = gen_email(rng, language), gen_phone(rng, language)
            out.append(
                build(
                    language,
                    lead[language],
                    (Entity.EMAIL, email),
                    joiner[language],
                    (Entity.PHONE, phone),
                    "\nAtt",
                )
            )
    return out


RED_TEAM: list[Snippet] = [
    build("pt", "me liga ", (Entity.PHONE, "(11) 9 1860-3552")),
    build("pt", "whats ", (Entity.PHONE, "11 9 6415 7564"), " depois das 18h"),
    build("nl", "bel ", (Entity.PHONE, "+31 (0)6 6861 8830")),
    build("pt", "celular ", (Entity.PHONE, "94212–1267")),
    build("pt", "meu número ", (Entity.PHONE, "（１１）９８７６５－４３２１")),
    build("pt", (Entity.PHONE, "１１ ９８７６５ ４３２１")),
    build("en", "call ", (Entity.PHONE, "(415) 086-3915")),
    build("en", (Entity.PHONE, "415-990-0297"), " is my cell"),
    build("nl", "mijn mobiel ", (Entity.PHONE, "06-86062670")),
    build("pt", "tel ", (Entity.PHONE, "3403-5382")),
    build("pt", "escreve ", (Entity.EMAIL, "maria arroba gmail ponto com")),
    build("nl", "mail ", (Entity.EMAIL, "jan [at] voorbeeld dot nl")),
    # the second red team (2026-12-06): full-width letters, invisible characters, separators
    build("pt", (Entity.EMAIL, "ｚｑ７ｐ４＠ｅｘａｍｐｌｅ．ｏｒｇ"), " ok"),
    build("pt", "email ", (Entity.EMAIL, "zq7rv1\u200b@example.org")),
    build("pt", "email ", (Entity.EMAIL, "zq7rv13@exam\u200bple.org")),
    build("pt", "escreve ", (Entity.EMAIL, "zq7rv8 @ example . org")),
    build("pt", "cartão ", (Entity.CARD, "4539.1773.0194.8269")),
    build("pt", "cartão ", (Entity.CARD, "4539 1773 0194  8277")),
    build("pt", "cpf ", (Entity.CPF, "731\u200b846\u200b259\u200b82")),
    build("pt", "iban ", (Entity.IBAN, "DE74 3704 0044 0532 7318 46"), " ok"),
    build("pt", "ip ", (Entity.IP, "10.77.13.202"), " ok"),
    build("pt", "cliente nasc ", (Entity.BIRTHDATE, "17/04/1983")),
    build("pt", "entregar na ", (Entity.ADDRESS, "rua zqcanaria 1507")),
    # the third look (a verifier, same day): look-alikes, compatibility forms, invisibles
    build("pt", (Entity.EMAIL, "\U0001d41c\U0001d41a\U0001d427@\U0001d420\U0001d426.com")),
    build("pt", "email ", (Entity.EMAIL, "canary\u0435@gm\u0430il.c\u043em")),
    build("pt", "email ", (Entity.EMAIL, "canaryf@gmail.\ncom")),
    build("pt", "cartão ", (Entity.CARD, "4111\u20091111\u20091111\u20091111")),
    build(
        "pt",
        "cpf ",
        (Entity.CPF, "\u2075\u00b2\u2079\u2079\u2078\u00b2\u00b2\u2074\u2077\u00b2\u2075"),
    ),
    build("pt", "email ", (Entity.EMAIL, "canaryg\ufe0f@gmail.com")),
    build("pt", "email ", (Entity.EMAIL, "canaryh\ufe6bgmail.com")),
    build("pt", "email ", (Entity.EMAIL, "y@gmail\u3002com")),
    build("pt", "email ", (Entity.EMAIL, "ab\U000e0041c@gmail.com")),
]

HARD_NEGATIVES: dict[str, list[str]] = {
    "pt": [
        "pedido {order} atrasado",
        "pedido nº {order8}",
        "código de rastreio {track}",
        "paguei R$ {price} no boleto",
        "R$ 12.345.678,90 no total",
        "entregue em {date}",
        "comprei dia {dmy} às 10:15",
        "CEP {cep} São Paulo",
        "entre 2017-2018 comprei 3 vezes",
        "nota 10, produto {sku}",
        "versão 2.1.3 do app",
        "chegou em {dmy} 08:30:12",
        "EAN {ean} na caixa",
        "a rua estava fechada por 2 dias",
        "comprei 3 unidades por R$ {price}",
        "protocolo {order}",
        "usei o cupom BLACK{n}",
        "a avenida tinha 2 faixas interditadas",
        "nota fiscal {nf}",
        "ana@mail sem domínio",
        "R$ {price} @ unidade",
        "prazo de 15-20 dias",
        # names of places, brands and things (NAME)
        "moro em São José dos Campos",
        "entrega para Santa Maria RS",
        "cidade de Vitória da Conquista",
        "comprei na Casa Bahia",
        "Colégio Pedro Segundo",
        "Produto Muito Bom",
        "Chegou Rápido Recomendo",
        "categoria Cama Mesa Banho",
        "de Belo Horizonte para Porto Alegre",
        "Juiz de Fora MG",
        "a Rua Maria Antônia estava fechada",
        "São Paulo Futebol Clube",
        "perfume Carolina Herrera original",
        "Dom Pedro Segundo",
    ],
    "en": [
        "order #{order} is late",
        "order {order8} never arrived",
        "paid ${price_en} twice",
        "arrived {date}",
        "delivered on {mdy} at 10:15",
        "ZIP {zip}",
        "San Francisco, CA {zip4}",
        "SKU {sku} was wrong",
        "tracking {track}",
        "version 2.1.3 crashes",
        "rated 10/10",
        "arrived at home.The box was open",
        "we met at the store, dot the i's",
        "the street was closed for 2 days",
        "3 items at $ {price_en} each",
        "invoice {order}",
        "model {sku}, serial {order8}",
        # names of places, brands and things (NAME)
        "Victoria Sponge Cake",
        "ROSE GOLD NECKLACE WITH HEART",
        "San Francisco, CA",
        "Santa Monica Boulevard",
        "Great Product Fast Delivery",
        "Jack Daniels whiskey glass",
        "from New York to Los Angeles",
        "Christmas Tree Decoration",
        "Mason Jar Lights",
        "Happy Birthday Banner",
    ],
    "nl": [
        "bestelling {order} is te laat",
        "bestelnummer {order8}",
        "betaald € {price}",
        "geleverd op {dmy}",
        "postcode {pc}",
        "artikel {sku} klopt niet",
        "het pakket is weg 2 dagen",
        "factuur {order}",
        "track & trace {track}",
        "versie 2.1.3",
        "levering 12-03-2019",
        "3 stuks voor € {price}",
        "de straat was 2 dagen dicht",
        # names of places, brands and things (NAME)
        "van Den Haag naar Sint Maarten",
        "Albert Heijn bonnetje",
        "Van Gogh Museum",
        "Goede Service Snelle Levering",
        "Kerst Versiering",
    ],
}


def _negative_values(rng: random.Random) -> dict[str, str]:
    ymd = f"20{rng.randint(10, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {
        "order": _digits(rng, rng.randint(6, 12), "123456789"),
        "order8": _digits(rng, 8, "123456789"),
        "track": f"{rng.choice(['AA', 'LB', 'OS'])}{_digits(rng, 9)}BR",
        "price": f"{rng.randint(1, 99)}.{rng.randint(0, 999):03d},{rng.randint(0, 99):02d}",
        "price_en": f"{rng.randint(1, 99)},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}",
        "date": ymd,
        "dmy": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 25)}",
        "mdy": f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/20{rng.randint(10, 25)}",
        "cep": f"{_digits(rng, 5)}-{_digits(rng, 3)}",
        "zip": _digits(rng, 5, "123456789"),
        "zip4": f"9{_digits(rng, 4)}-{_digits(rng, 4)}",
        "pc": f"{rng.randint(1000, 9999)} {rng.choice(['AB', 'XK', 'GH'])}",
        "sku": f"{rng.choice(['BR', 'XS', 'MK'])}-{_digits(rng, 4)}-{rng.choice('ABCXYZ')}",
        "ean": "789" + _digits(rng, 10),
        "n": str(rng.randint(10, 99)),
        "nf": _digits(rng, 6, "123456789"),
    }


NEGATIVES_PER_TEMPLATE = 12


def _negatives(rng: random.Random) -> list[Snippet]:
    out = []
    for language, templates in HARD_NEGATIVES.items():
        for template in templates:
            for _ in range(NEGATIVES_PER_TEMPLATE if "{" in template else 1):
                out.append(build(language, template.format(**_negative_values(rng))))
    return out


def corpus(seed: int = SEED) -> list[Snippet]:
    """Every snippet, the same on every call with the same seed."""
    rng = random.Random(seed)
    return [*RED_TEAM, *_positives(rng), *_mixed(rng), *_negatives(rng)]


@dataclass
class Score:
    expected: int = 0  # labelled values
    found: int = 0  # labelled values found whole, as this entity
    reported: int = 0  # findings of this entity
    correct: int = 0  # findings of this entity on a labelled value of this entity

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.reported if self.reported else 1.0


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(
    snippets: list[Snippet],
) -> tuple[dict[Entity, Score], list[tuple[Snippet, list[Finding]]]]:
    """Recall and precision per entity, and the snippets with a miss or a wrong finding.

    A labelled value counts as found when findings of its entity overlap it and findings cover
    all of it; a finding is correct when it overlaps a labelled value of its entity.
    """
    scores = {e: Score() for e in Entity}
    wrong = []
    for snippet in snippets:
        findings = detect(snippet.text, snippet.region)
        bad = False
        for entity, start, end in snippet.spans:
            scores[entity].expected += 1
            same = [
                f
                for f in findings
                if f.entity is entity and _overlaps((f.start, f.end), (start, end))
            ]
            covered = all(any(f.start <= i < f.end for f in findings) for i in range(start, end))
            if same and covered:
                scores[entity].found += 1
            else:
                bad = True
        for f in findings:
            scores[f.entity].reported += 1
            if any(
                e is f.entity and _overlaps((f.start, f.end), (s, t)) for e, s, t in snippet.spans
            ):
                scores[f.entity].correct += 1
            else:
                bad = True
        if bad:
            wrong.append((snippet, findings))
    return scores, wrong
