"""Small, hand-written landing data for one day, built from the contracts' column lists.

Tests take a clean day, change exactly the rows they care about, and write the files.
Every value marked ``CANARY`` is personal data that must never appear in clear text in
anything the pipeline writes.
"""

from __future__ import annotations

import csv
import io
import json
from copy import deepcopy
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pipelines.contracts import ContractSet
from pipelines.lake.interval import Interval
from pipelines.settings import Settings

DAY = "2018-01-01"
Rows = dict[str, list[dict[str, Any]]]


def _id(prefix: str, n: int) -> str:
    return f"{prefix}{n:0>{32 - len(prefix)}}"


def clean_day() -> Rows:
    """A consistent day of data: every key unique, every foreign key resolves."""
    cust = [_id("c", i) for i in range(1, 4)]
    uniq = [_id("u", 1), _id("u", 2), _id("u", 1)]  # person u1 ordered twice
    orders = [_id("o", i) for i in range(1, 4)]
    return {
        "customers": [
            {
                "customer_id": cust[i],
                "customer_unique_id": uniq[i],
                "customer_zip_code_prefix": zip_,
                "customer_city": city,
                "customer_state": state,
            }
            for i, (zip_, city, state) in enumerate(
                [
                    ("01310", "CANARYCITY1", "SP"),
                    ("20031", "rio de janeiro", "RJ"),
                    ("01310", "sao paulo", "SP"),
                ]
            )
        ],
        "customer_profiles": [
            {
                "customer_unique_id": _id("u", 1),
                "full_name": "CANARYNAME Alpha Silva",
                "email": "canary.alpha@CANARYMAIL.example",
                "phone": "+55 11 90000-1111",
                "birth_date": "1985-06-15",
                "gender": "F",
                "street_address": "Rua CANARYSTREET, 100 - Centro",
            },
            {
                "customer_unique_id": _id("u", 2),
                "full_name": "CANARYNAME Beta Souza",
                "email": "canary.beta@CANARYMAIL.example",
                "phone": "+55 21 90000-2222",
                "birth_date": "2001-12-31",
                "gender": "M",
                "street_address": "Avenida CANARYSTREET, 200 - Copacabana",
            },
        ],
        "orders": [
            {
                "order_id": orders[i],
                "customer_id": cust[i],
                "order_status": "delivered",
                "order_purchase_timestamp": f"{DAY} 0{i + 1}:00:00",
                "order_approved_at": f"{DAY} 0{i + 1}:10:00",
                "order_delivered_carrier_date": "2018-01-02 10:00:00",
                "order_delivered_customer_date": "2018-01-05 10:00:00",
                "order_estimated_delivery_date": "2018-01-20 00:00:00",
            }
            for i in range(3)
        ],
        "products": [
            {
                "product_id": _id("p", i),
                "product_category_name": cat,
                "product_name_lenght": "40",
                "product_description_lenght": "300",
                "product_photos_qty": "2",
                "product_weight_g": "500",
                "product_length_cm": "20",
                "product_height_cm": "10",
                "product_width_cm": "15",
            }
            for i, cat in enumerate(["cama_mesa_banho", "beleza_saude"], 1)
        ],
        "sellers": [
            {
                "seller_id": _id("s", 1),
                "seller_zip_code_prefix": "13023",
                "seller_city": "campinas",
                "seller_state": "SP",
            }
        ],
        "order_items": [
            {
                "order_id": o,
                "order_item_id": str(n),
                "product_id": _id("p", p),
                "seller_id": _id("s", 1),
                "shipping_limit_date": "2018-01-03 00:00:00",
                "price": price,
                "freight_value": "10.5",
            }
            for o, n, p, price in [
                (orders[0], 1, 1, "100.0"),
                (orders[0], 2, 2, "59.9"),
                (orders[1], 1, 1, "100.0"),
                (orders[2], 1, 2, "25.00"),
            ]
        ],
        "order_payments": [
            {
                "order_id": o,
                "payment_sequential": "1",
                "payment_type": t,
                "payment_installments": "1",
                "payment_value": v,
            }
            for o, t, v in [
                (orders[0], "credit_card", "180.90"),
                (orders[1], "boleto", "110.50"),
                (orders[2], "voucher", "35.50"),
            ]
        ],
        "order_reviews": [
            {
                "review_id": _id("r", 1),
                "order_id": orders[0],
                "review_score": "5",
                "review_comment_title": "Ótimo",
                "review_comment_message": "Chegou rápido!\nQualquer coisa: canary.review@CANARYMAIL.example ou (11) 98888-7777",
                "review_creation_date": f"{DAY} 12:00:00",
                "review_answer_timestamp": "2018-01-02 08:00:00",
            },
            {
                "review_id": _id("r", 2),
                "order_id": orders[1],
                "review_score": "2",
                "review_comment_title": None,
                "review_comment_message": None,
                "review_creation_date": f"{DAY} 13:00:00",
                "review_answer_timestamp": None,
            },
        ],
    }


CANARIES = [
    "CANARYCITY1",
    "CANARYNAME",
    "CANARYMAIL",
    "canary.alpha",
    "canary.beta",
    "canary.review",
    "CANARYSTREET",
    "90000-1111",
    "90000-2222",
    "98888-7777",
    "1985-06-15",
    "2001-12-31",
    _id("u", 1),
    _id("u", 2),
    _id("c", 1),
    _id("c", 2),
    _id("c", 3),
]
"""Substrings of personal data in :func:`clean_day` that must never be written in clear."""


def to_csv(contracts: ContractSet, table: str, rows: list[dict[str, Any]]) -> str:
    columns = contracts[table].column_names
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


def to_jsonl(contracts: ContractSet, table: str, rows: list[dict[str, Any]]) -> str:
    columns = contracts[table].column_names
    return "".join(json.dumps({c: row.get(c) for c in columns}) + "\n" for row in rows)


def write_day(
    write_landing, contracts: ContractSet, rows: Rows, day: str = DAY, fmt: str = "csv"
) -> None:  # type: ignore[no-untyped-def]
    for table, table_rows in rows.items():
        stem = contracts[table].source.file_stem
        if fmt in ("csv", "csv.gz"):
            write_landing(day, f"{stem}.{fmt}", to_csv(contracts, table, table_rows))
        elif fmt == "jsonl":
            write_landing(day, f"{stem}.jsonl", to_jsonl(contracts, table, table_rows))
        else:
            raise ValueError(fmt)


def copy_rows(rows: Rows) -> Rows:
    return deepcopy(rows)


def whole_landing_run(landing: Path, data_dir: Path) -> tuple[Settings, Interval]:
    """Small-instance settings and the one interval covering every delivery day of ``landing``
    (what the ingestion tests over generated data use)."""
    settings = Settings(
        data_dir=data_dir, landing_dir=landing, duckdb_memory_limit="1GB", duckdb_threads=2
    )
    days = sorted(p.name for p in landing.iterdir() if p.is_dir())
    end = date.fromisoformat(days[-1]) + timedelta(days=1)
    return settings, Interval.parse(days[0], end.isoformat())
