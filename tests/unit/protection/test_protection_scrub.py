from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from pipelines.protection import scrub_text, sql_scrub
from pipelines.protection.scrub import register_duckdb_udf

E, P, H = "[EMAIL]", "[PHONE]", "[HANDLE]"

CORPUS: list[tuple[str, str]] = [
    # phones that must be scrubbed
    ("me liga no +55 11 91234-5678", f"me liga no {P}"),
    ("(11) 98765-4321", P),
    ("tel 11 98765 4321.", f"tel {P}."),
    ("whats 11987654321", f"whats {P}"),
    ("fixo (21) 3456-7890, obrigado", f"fixo {P}, obrigado"),
    ("call +1 415 555 0100 today", f"call {P} today"),
    ("+55 (11) 98765-4321", P),
    ("+5511912345678", P),
    ("011 98765-4321", P),
    ("(011) 98765-4321", P),
    ("21 3456-7890", P),
    ("11.98765.4321", P),
    ("celular 98765-4321 ok", f"celular {P} ok"),
    ("+44 20 7946 0958", P),
    ("(11)98765-4321/(11)3456-7890", f"{P}/{P}"),
    # e-mails
    ("escreva para joao.silva@exemplo.com.br.", f"escreva para {E}."),
    ("email: JOAO_x+tag@Gmail.COM", f"email: {E}"),
    ("joão.ção@empresa.com.br", E),
    ("a@b.co e c@d.com", f"{E} e {E}"),
    ("<maria-souza@mail.example.org>", f"<{E}>"),
    ("11987654321@gmail.com", E),
    # mixed, multi-line, Portuguese
    (
        "Produto chegou quebrado!!\nFalem comigo: ana@loja.com ou (11) 98765-4321\nAtt",
        f"Produto chegou quebrado!!\nFalem comigo: {E} ou {P}\nAtt",
    ),
    ("Não recebi.\r\nContato 21 99876-5432\r\n", f"Não recebi.\r\nContato {P}\r\n"),
    (
        "Ótimo vendedor, recomendo 😀 (tel: +55 21 3456-7890)",
        f"Ótimo vendedor, recomendo 😀 (tel: {P})",
    ),
    # must not be touched
    ("entregue em 2018-03-01", "entregue em 2018-03-01"),
    ("comprei dia 01/03/2018 às 10:15", "comprei dia 01/03/2018 às 10:15"),
    ("paguei R$ 1.234,56 no boleto", "paguei R$ 1.234,56 no boleto"),
    ("R$ 12.345.678,90", "R$ 12.345.678,90"),
    ("pedido 123456789 atrasado", "pedido 123456789 atrasado"),
    ("pedido nº 98765432", "pedido nº 98765432"),
    ("CEP 01310-100 São Paulo", "CEP 01310-100 São Paulo"),
    ("entre 2017-2018 comprei 3 vezes", "entre 2017-2018 comprei 3 vezes"),
    ("nota 10 +1 2 3", "nota 10 +1 2 3"),
    ("usuário @loja no instagram", f"usuário {H} no instagram"),
    ("ana@mail sem domínio", "ana@mail sem domínio"),
    ("versão 2.1.3 do app", "versão 2.1.3 do app"),
    ("2018-03-01 10:15:23", "2018-03-01 10:15:23"),
    ("12345678901234 é o código", "12345678901234 é o código"),
    ("", ""),
    ("recomendo\n\nmuito bom", "recomendo\n\nmuito bom"),
]


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize(("text", "expected"), CORPUS)
def test_scrub_text(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


def _sql(con: duckdb.DuckDBPyConnection, values: list[str | None]) -> list[str | None]:
    register_duckdb_udf(con)
    con.register("src", pa.table({"id": range(len(values)), "t": pa.array(values, pa.string())}))
    rows = con.execute(f"SELECT {sql_scrub('t')} FROM src ORDER BY id").fetchall()
    con.unregister("src")
    return [r[0] for r in rows]


def test_sql_scrub_matches_expected_corpus(con: duckdb.DuckDBPyConnection) -> None:
    texts: list[str | None] = [t for t, _ in CORPUS]
    assert _sql(con, [*texts, None]) == [*(e for _, e in CORPUS), None]
    assert scrub_text(None) is None


def test_sql_scrub_matches_python_on_random_text(con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(11)
    atoms = [
        "0", "1", "9", "11", "98765", "4321", "2018", "01310", " ", "-", ".", "/", "(", ")",
        "+", "+55", "@", "a", "Z", "_", "ç", "ã", "😀", "\n", ",", "R$", "com", "br", "x@y",
        "joão", "\t", "\xa0", "\x0b", "@mail", ".com", ".br", "(11) ", "3456",
    ]  # fmt: skip
    values: list[str | None] = [
        "".join(rng.choice(atoms) for _ in range(rng.randint(0, 25))) for _ in range(4000)
    ]
    python = [scrub_text(v) for v in values]
    assert _sql(con, values) == python
    assert sum(E in (v or "") for v in python) > 50
    assert sum(P in (v or "") for v in python) > 50
