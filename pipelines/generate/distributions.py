"""Reference distributions of the Olist marketplace, as plain ``{segment: share}`` dicts.

The generator samples from these, and representativeness checks can use them as the
reference population. Shares sum to 1 (up to float rounding).

Sources (Brazilian E-Commerce Public Dataset by Olist, CC BY-NC-SA 4.0):

* full public tables, 99,441 orders: order status, customer state, purchase weekday and hour,
  items per order (98,666 orders with items), review scores (99,224 reviews), repeat buyers
  (96,096 distinct ``customer_unique_id``), review comment shares;
* ``../shared/data/olist_full``: payment types, credit-card instalments, product categories,
  product photo counts, seller states (computed with DuckDB);
* ``../shared/data/olist_sample``: top cities per state with their zip-prefix ranges and median
  item price per category (the sample over-represents undelivered orders but not prices or
  geography much).

Values marked *synthetic* (gender, age, e-mail domains) have no Olist source: Olist holds no
personal data. They are plausible Brazilian figures chosen for the synthetic profiles table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

K = TypeVar("K")


def _shares(counts: Mapping[K, float]) -> dict[K, float]:
    total = float(sum(counts.values()))
    return {key: value / total for key, value in counts.items()}


# --- orders -----------------------------------------------------------------------------

ORDER_STATUS: dict[str, float] = _shares(
    {
        "delivered": 96478,
        "shipped": 1107,
        "canceled": 625,
        "unavailable": 609,
        "invoiced": 314,
        "processing": 301,
        "created": 5,
        "approved": 2,
    }
)

# Orders by weekday of purchase, Monday first (datetime.weekday() order).
PURCHASE_WEEKDAY: dict[int, float] = _shares(
    {0: 16196, 1: 15963, 2: 15552, 3: 14761, 4: 14122, 5: 10887, 6: 11960}
)

# Orders by hour of purchase (local time).
_HOURS = [
    2394, 1170, 510, 272, 206, 188, 502, 1231, 2967, 4785, 6177, 6578,
    5995, 6518, 6569, 6454, 6675, 6150, 5769, 5982, 6193, 6217, 5816, 4123,
]  # fmt: skip
PURCHASE_HOUR: dict[int, float] = _shares(dict(enumerate(_HOURS)))

# Share of orders placed by a person who had already ordered (99,441 orders, 96,096 persons).
REPEAT_ORDER_SHARE: float = (99441 - 96096) / 99441

# Items per order; the 58 orders with 7 to 21 items are folded into 6.
ITEMS_PER_ORDER: dict[int, float] = _shares(
    {1: 88863, 2: 7516, 3: 1322, 4: 505, 5: 204, 6: 198 + 58}
)

# --- customers and sellers ---------------------------------------------------------------

CUSTOMER_STATE: dict[str, float] = _shares(
    {
        "SP": 41746,
        "RJ": 12852,
        "MG": 11635,
        "RS": 5466,
        "PR": 5045,
        "SC": 3637,
        "BA": 3380,
        "DF": 2140,
        "ES": 2033,
        "GO": 2020,
        "PE": 1652,
        "CE": 1336,
        "PA": 975,
        "MT": 907,
        "MA": 747,
        "MS": 715,
        "PB": 536,
        "PI": 495,
        "RN": 485,
        "AL": 413,
        "SE": 350,
        "TO": 280,
        "RO": 253,
        "AM": 148,
        "AC": 81,
        "AP": 68,
        "RR": 46,
    }
)

# Sellers by state (olist_full sellers, 3,095 rows); states without sellers are absent.
SELLER_STATE: dict[str, float] = _shares(
    {
        "SP": 1849,
        "PR": 349,
        "MG": 244,
        "SC": 190,
        "RJ": 171,
        "RS": 129,
        "GO": 40,
        "DF": 30,
        "ES": 23,
        "BA": 19,
        "CE": 13,
        "PE": 9,
        "PB": 6,
        "RN": 5,
        "MS": 5,
        "MT": 4,
        "RO": 2,
        "SE": 2,
        "AC": 1,
        "MA": 1,
        "PA": 1,
        "PI": 1,
        "AM": 1,
    }
)

# Up to eight most frequent cities per state: (city, customers in the sample, lowest and
# highest zip prefix seen). Zip prefixes are drawn uniformly inside the city's range.
CITIES: dict[str, list[tuple[str, int, str, str]]] = {
    "AC": [
        ("rio branco", 5, "69900", "69918"),
        ("brasileia", 1, "69932", "69932"),
        ("cruzeiro do sul", 1, "69980", "69980"),
        ("senador guiomard", 1, "69925", "69925"),
    ],
    "AL": [
        ("maceio", 27, "57010", "57085"),
        ("belem", 2, "57630", "57630"),
        ("arapiraca", 1, "57306", "57306"),
        ("barra de sao miguel", 1, "57180", "57180"),
        ("igaci", 1, "57620", "57620"),
        ("junqueiro", 1, "57270", "57270"),
        ("olho d'agua das flores", 1, "57442", "57442"),
    ],
    "AM": [("manaus", 6, "69018", "69098")],
    "AP": [("macapa", 5, "68900", "68908"), ("santana", 3, "68927", "68928")],
    "BA": [
        ("salvador", 126, "40010", "41925"),
        ("feira de santana", 13, "44002", "44092"),
        ("lauro de freitas", 10, "42700", "42739"),
        ("vitoria da conquista", 9, "45003", "45078"),
        ("itabuna", 8, "45600", "45607"),
        ("camacari", 7, "42800", "42806"),
        ("guanambi", 6, "46430", "46430"),
        ("ilheus", 6, "45652", "45658"),
    ],
    "CE": [
        ("fortaleza", 63, "60025", "60872"),
        ("juazeiro do norte", 5, "63010", "63050"),
        ("maracanau", 4, "61900", "61932"),
        ("caucaia", 3, "61635", "61656"),
        ("sobral", 3, "62020", "62042"),
        ("crato", 2, "63106", "63122"),
    ],
    "DF": [("brasilia", 154, "70040", "73401"), ("sobradinho", 1, "73060", "73060")],
    "ES": [
        ("vitoria", 30, "29018", "29092"),
        ("vila velha", 29, "29101", "29129"),
        ("serra", 17, "29160", "29176"),
        ("cariacica", 8, "29140", "29156"),
        ("cachoeiro de itapemirim", 6, "29307", "29317"),
        ("guarapari", 5, "29200", "29216"),
        ("sao mateus", 5, "29930", "29946"),
        ("colatina", 4, "29700", "29709"),
    ],
    "GO": [
        ("goiania", 62, "74013", "74893"),
        ("aparecida de goiania", 17, "74912", "74986"),
        ("rio verde", 8, "75901", "75908"),
        ("anapolis", 4, "75084", "75113"),
        ("uruacu", 4, "76400", "76400"),
        ("valparaiso de goias", 4, "72870", "72878"),
        ("aguas lindas de goias", 3, "72914", "72920"),
        ("caldas novas", 3, "75690", "75690"),
    ],
    "MA": [
        ("sao luis", 31, "65025", "65090"),
        ("timon", 4, "65630", "65634"),
        ("presidente dutra", 2, "65760", "65760"),
        ("sao jose de ribamar", 2, "65110", "65110"),
        ("caxias", 1, "65606", "65606"),
    ],
    "MG": [
        ("belo horizonte", 207, "30110", "31990"),
        ("contagem", 37, "32013", "32370"),
        ("juiz de fora", 32, "36010", "36083"),
        ("uberlandia", 27, "38400", "38425"),
        ("uberaba", 21, "38010", "38082"),
        ("betim", 20, "32600", "32671"),
        ("governador valadares", 15, "35010", "35065"),
        ("divinopolis", 14, "35500", "35502"),
    ],
    "MS": [
        ("campo grande", 18, "79006", "79118"),
        ("dourados", 5, "79812", "79842"),
        ("corumba", 3, "79303", "79333"),
        ("tres lagoas", 2, "79621", "79630"),
        ("aquidauana", 1, "79200", "79200"),
    ],
    "MT": [
        ("cuiaba", 20, "78005", "78080"),
        ("sinop", 5, "78550", "78557"),
        ("varzea grande", 5, "78110", "78142"),
        ("rondonopolis", 3, "78710", "78735"),
        ("sorriso", 3, "78890", "78890"),
        ("tangara da serra", 3, "78300", "78300"),
    ],
    "PA": [
        ("belem", 34, "66010", "66913"),
        ("ananindeua", 8, "67033", "67140"),
        ("castanhal", 5, "68740", "68746"),
        ("parauapebas", 4, "68515", "68515"),
        ("santarem", 4, "68010", "68040"),
        ("altamira", 3, "68371", "68375"),
        ("maraba", 2, "68500", "68505"),
    ],
    "PB": [
        ("joao pessoa", 25, "58010", "58074"),
        ("campina grande", 6, "58400", "58430"),
        ("sousa", 2, "58801", "58804"),
        ("cabedelo", 1, "58103", "58103"),
        ("cajazeiras", 1, "58900", "58900"),
    ],
    "PE": [
        ("recife", 36, "50050", "52221"),
        ("jaboatao dos guararapes", 10, "54090", "54430"),
        ("olinda", 10, "53020", "53370"),
        ("petrolina", 8, "56302", "56330"),
        ("garanhuns", 4, "55292", "55298"),
        ("paulista", 4, "53413", "53429"),
        ("camaragibe", 3, "54762", "54768"),
        ("caruaru", 3, "55002", "55024"),
    ],
    "PI": [
        ("teresina", 22, "64001", "64083"),
        ("picos", 4, "64600", "64601"),
        ("parnaiba", 3, "64208", "64218"),
        ("floriano", 2, "64800", "64806"),
    ],
    "PR": [
        ("curitiba", 114, "80010", "82970"),
        ("londrina", 24, "86010", "86083"),
        ("maringa", 20, "87005", "87080"),
        ("sao jose dos pinhais", 14, "83005", "83065"),
        ("guarapuava", 9, "85010", "85070"),
        ("cascavel", 8, "85801", "85817"),
        ("paranavai", 7, "87704", "87720"),
        ("arapongas", 6, "86700", "86716"),
    ],
    "RJ": [
        ("rio de janeiro", 628, "20011", "23595"),
        ("niteroi", 74, "24020", "24360"),
        ("sao goncalo", 39, "24411", "24754"),
        ("nova iguacu", 37, "26012", "26291"),
        ("duque de caxias", 34, "25015", "25272"),
        ("macae", 25, "27910", "27966"),
        ("petropolis", 23, "25610", "25750"),
        ("volta redonda", 22, "27210", "27288"),
    ],
    "RN": [
        ("natal", 13, "59012", "59114"),
        ("parnamirim", 7, "59140", "59155"),
        ("mossoro", 3, "59615", "59631"),
        ("caico", 1, "59300", "59300"),
    ],
    "RO": [
        ("porto velho", 11, "76801", "76824"),
        ("vilhena", 4, "76980", "76980"),
        ("cacoal", 2, "76961", "76962"),
        ("ariquemes", 1, "76870", "76870"),
    ],
    "RR": [("boa vista", 7, "69301", "69309")],
    "RS": [
        ("porto alegre", 105, "90010", "91920"),
        ("canoas", 20, "92020", "92440"),
        ("caxias do sul", 18, "95012", "95110"),
        ("santa maria", 17, "97010", "97105"),
        ("rio grande", 13, "96200", "96216"),
        ("novo hamburgo", 9, "93310", "93546"),
        ("bage", 8, "96400", "96418"),
        ("erechim", 8, "99700", "99712"),
    ],
    "SC": [
        ("florianopolis", 48, "88010", "88095"),
        ("joinville", 28, "89201", "89239"),
        ("blumenau", 15, "89010", "89063"),
        ("concordia", 8, "89700", "89708"),
        ("palhoca", 8, "88131", "88138"),
        ("sao jose", 8, "88101", "88107"),
        ("videira", 8, "89560", "89560"),
        ("balneario camboriu", 7, "88330", "88337"),
    ],
    "SE": [
        ("aracaju", 23, "49009", "49097"),
        ("itabaiana", 4, "49500", "49509"),
        ("lagarto", 2, "49400", "49400"),
        ("boquim", 1, "49360", "49360"),
    ],
    "SP": [
        ("sao paulo", 1285, "01005", "08490"),
        ("campinas", 121, "13010", "13106"),
        ("guarulhos", 116, "07013", "07273"),
        ("sao bernardo do campo", 72, "09614", "09896"),
        ("sao jose dos campos", 66, "12209", "12248"),
        ("santo andre", 62, "09015", "09280"),
        ("sorocaba", 62, "18010", "18103"),
        ("osasco", 56, "06018", "06286"),
        ("ribeirao preto", 50, "14010", "14110"),
        ("santos", 45, "11010", "11095"),
    ],
    "TO": [
        ("palmas", 11, "77001", "77060"),
        ("araguaina", 4, "77807", "77824"),
        ("paraiso do tocantins", 1, "77600", "77600"),
        ("guarai", 1, "77700", "77700"),
    ],
}

# Telephone area codes (DDD) per state; the first is the capital's.
AREA_CODES: dict[str, list[int]] = {
    "AC": [68],
    "AL": [82],
    "AM": [92, 97],
    "AP": [96],
    "BA": [71, 73, 74, 75, 77],
    "CE": [85, 88],
    "DF": [61],
    "ES": [27, 28],
    "GO": [62, 64],
    "MA": [98, 99],
    "MG": [31, 32, 33, 34, 35, 37, 38],
    "MS": [67],
    "MT": [65, 66],
    "PA": [91, 93, 94],
    "PB": [83],
    "PE": [81, 87],
    "PI": [86, 89],
    "PR": [41, 42, 43, 44, 45, 46],
    "RJ": [21, 22, 24],
    "RN": [84],
    "RO": [69],
    "RR": [95],
    "RS": [51, 53, 54, 55],
    "SC": [47, 48, 49],
    "SE": [79],
    "SP": [11, 12, 13, 14, 15, 16, 17, 18, 19],
    "TO": [63],
}

# --- payments -----------------------------------------------------------------------------

# Share of payment *rows* by type (olist_full payments, 103,886 rows).
PAYMENT_TYPE: dict[str, float] = _shares(
    {"credit_card": 76795, "boleto": 19784, "voucher": 5775, "debit_card": 1529, "not_defined": 3}
)

# Payment rows per order (olist_full: 103,886 rows for 99,440 orders).
PAYMENT_ROWS_PER_ORDER: float = 103886 / 99440

# Credit-card instalments; 0 folded into 1 and 11-24 folded into 10.
CREDIT_CARD_INSTALLMENTS: dict[int, float] = _shares(
    {
        1: 25455 + 2,
        2: 12413,
        3: 10461,
        4: 7098,
        5: 5239,
        6: 3920,
        7: 1626,
        8: 4268,
        9: 644,
        10: 5328 + 23 + 133 + 16 + 15 + 74 + 5 + 8 + 27 + 17 + 3 + 1 + 1 + 18,
    }
)

# --- reviews ------------------------------------------------------------------------------

REVIEW_SCORE: dict[int, float] = _shares({5: 57328, 4: 19142, 3: 8179, 2: 3151, 1: 11424})

# Share of orders with at least one review (98,673 of 99,441).
REVIEW_SHARE: float = 98673 / 99441
# Share of reviews with a message (40,977 of 99,224) and with a title (11,568 of 99,224).
REVIEW_MESSAGE_SHARE: float = 40977 / 99224
REVIEW_TITLE_SHARE: float = 11568 / 99224
# Share of messages naming an e-mail address or a phone number (an assumption: Olist
# messages were anonymised before publication) and of messages with a line break (the
# published data has ~10%; kept lower here).
REVIEW_CONTACT_SHARE: float = 0.02
REVIEW_LINE_BREAK_SHARE: float = 0.01

# --- products -----------------------------------------------------------------------------

# Products by category (olist_full products, 32,951 rows); None = no category (610 rows).
PRODUCT_CATEGORY: dict[str | None, float] = _shares(
    {
        "cama_mesa_banho": 3029,
        "esporte_lazer": 2867,
        "moveis_decoracao": 2657,
        "beleza_saude": 2444,
        "utilidades_domesticas": 2335,
        "automotivo": 1900,
        "informatica_acessorios": 1639,
        "brinquedos": 1411,
        "relogios_presentes": 1329,
        "telefonia": 1134,
        "bebes": 919,
        "perfumaria": 868,
        "fashion_bolsas_e_acessorios": 849,
        "papelaria": 849,
        "cool_stuff": 789,
        "ferramentas_jardim": 753,
        "pet_shop": 719,
        None: 610,
        "eletronicos": 517,
        "construcao_ferramentas_construcao": 400,
        "eletrodomesticos": 370,
        "malas_acessorios": 349,
        "consoles_games": 317,
        "moveis_escritorio": 309,
        "instrumentos_musicais": 289,
        "eletroportateis": 231,
        "casa_construcao": 225,
        "livros_interesse_geral": 216,
        "fashion_calcados": 173,
        "moveis_sala": 156,
        "climatizacao": 124,
        "livros_tecnicos": 123,
        "telefonia_fixa": 116,
        "casa_conforto": 111,
        "market_place": 104,
        "alimentos_bebidas": 104,
        "fashion_roupa_masculina": 95,
        "moveis_cozinha_area_de_servico_jantar_e_jardim": 94,
        "sinalizacao_e_seguranca": 93,
        "construcao_ferramentas_seguranca": 91,
        "eletrodomesticos_2": 90,
        "construcao_ferramentas_jardim": 88,
        "alimentos": 82,
        "bebidas": 81,
        "construcao_ferramentas_iluminacao": 78,
        "agro_industria_e_comercio": 74,
        "industria_comercio_e_negocios": 68,
        "artigos_de_natal": 65,
        "audio": 58,
        "artes": 55,
        "fashion_underwear_e_moda_praia": 53,
        "dvds_blu_ray": 48,
        "moveis_quarto": 45,
        "construcao_ferramentas_ferramentas": 39,
        "livros_importados": 31,
        "portateis_casa_forno_e_cafe": 31,
        "pcs": 30,
        "cine_foto": 28,
        "fashion_roupa_feminina": 27,
        "musica": 27,
        "artigos_de_festas": 26,
        "artes_e_artesanato": 19,
        "fashion_esporte": 19,
        "flores": 14,
        "fraldas_higiene": 12,
        "la_cuisine": 10,
        "portateis_cozinha_e_preparadores_de_alimentos": 10,
        "moveis_colchao_e_estofado": 10,
        "tablets_impressao_imagem": 9,
        "casa_conforto_2": 5,
        "fashion_roupa_infanto_juvenil": 5,
        "pc_gamer": 3,
        "seguros_e_servicos": 2,
        "cds_dvds_musicais": 1,
    }
)

# Median item price (BRL) of the larger categories (olist_sample items); others use the default.
PRICE_MEDIAN_BRL: dict[str, float] = {
    "cama_mesa_banho": 75.0,
    "beleza_saude": 80.7,
    "esporte_lazer": 89.9,
    "moveis_decoracao": 67.9,
    "informatica_acessorios": 79.9,
    "utilidades_domesticas": 59.9,
    "relogios_presentes": 142.4,
    "automotivo": 79.9,
    "telefonia": 30.0,
    "brinquedos": 89.9,
    "ferramentas_jardim": 62.5,
    "cool_stuff": 130.0,
    "perfumaria": 69.9,
    "bebes": 79.9,
    "eletronicos": 21.9,
    "papelaria": 80.0,
    "fashion_bolsas_e_acessorios": 49.9,
    "pet_shop": 95.0,
    "consoles_games": 113.3,
    "moveis_escritorio": 170.0,
    "instrumentos_musicais": 91.2,
    "malas_acessorios": 99.0,
    "eletrodomesticos": 40.1,
    "construcao_ferramentas_construcao": 89.0,
    "eletroportateis": 193.0,
    "livros_interesse_geral": 40.0,
    "pcs": 1100.0,
    "eletrodomesticos_2": 400.0,
}
PRICE_MEDIAN_DEFAULT_BRL: float = 75.0

# Published photos per product (olist_full products); 11 or more folded into 11.
PRODUCT_PHOTOS: dict[int, float] = _shares(
    {1: 16489, 2: 6263, 3: 3860, 4: 2428, 5: 1484, 6: 968, 7: 343, 8: 192, 9: 105, 10: 95, 11: 114}
)

# --- synthetic persons (no Olist source) --------------------------------------------------

GENDER: dict[str, float] = {"F": 0.49, "M": 0.49, "X": 0.02}

# Age at first order, in years, by band (inclusive bounds); skewed to 25-44.
AGE_BAND: dict[tuple[int, int], float] = {
    (18, 24): 0.13,
    (25, 34): 0.31,
    (35, 44): 0.27,
    (45, 54): 0.15,
    (55, 64): 0.09,
    (65, 80): 0.05,
}

EMAIL_DOMAIN: dict[str, float] = {
    "gmail.com": 0.46,
    "hotmail.com": 0.2,
    "yahoo.com.br": 0.08,
    "outlook.com": 0.08,
    "uol.com.br": 0.06,
    "bol.com.br": 0.05,
    "terra.com.br": 0.03,
    "icloud.com": 0.04,
}

# Share of profiles without a phone number.
PHONE_MISSING_SHARE: float = 0.04

# --- registries -----------------------------------------------------------------------------

# Reference shares of single source columns, keyed "table.column" (for representativeness
# checks). Review scores are keyed by int; product category None means "no category".
COLUMN_REFERENCE: dict[str, dict[Any, float]] = {
    "orders.order_status": ORDER_STATUS,
    "customers.customer_state": CUSTOMER_STATE,
    "sellers.seller_state": SELLER_STATE,
    "order_payments.payment_type": PAYMENT_TYPE,
    "order_reviews.review_score": REVIEW_SCORE,
    "products.product_category_name": PRODUCT_CATEGORY,
    "customer_profiles.gender": GENDER,
}

# Every {segment: share} dict in this module, by name.
SHARES: dict[str, dict[Any, float]] = {
    "ORDER_STATUS": ORDER_STATUS,
    "PURCHASE_WEEKDAY": PURCHASE_WEEKDAY,
    "PURCHASE_HOUR": PURCHASE_HOUR,
    "ITEMS_PER_ORDER": ITEMS_PER_ORDER,
    "CUSTOMER_STATE": CUSTOMER_STATE,
    "SELLER_STATE": SELLER_STATE,
    "PAYMENT_TYPE": PAYMENT_TYPE,
    "CREDIT_CARD_INSTALLMENTS": CREDIT_CARD_INSTALLMENTS,
    "REVIEW_SCORE": REVIEW_SCORE,
    "PRODUCT_CATEGORY": PRODUCT_CATEGORY,
    "PRODUCT_PHOTOS": PRODUCT_PHOTOS,
    "GENDER": GENDER,
    "AGE_BAND": AGE_BAND,
    "EMAIL_DOMAIN": EMAIL_DOMAIN,
}
