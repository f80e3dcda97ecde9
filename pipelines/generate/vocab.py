"""Word lists for the synthetic text columns: Portuguese names, addresses and review phrases.

Every person built from these is fictitious; any match with a real person is chance.
"""

from __future__ import annotations

import unicodedata

FIRST_NAMES_F: list[str] = [
    "Maria", "Ana", "Francisca", "Antônia", "Adriana", "Juliana", "Márcia", "Fernanda",
    "Patrícia", "Aline", "Sandra", "Camila", "Amanda", "Bruna", "Jéssica", "Letícia",
    "Júlia", "Luciana", "Vanessa", "Mariana", "Gabriela", "Beatriz", "Larissa", "Renata",
    "Carolina", "Rafaela", "Natália", "Cláudia", "Simone", "Daniela", "Tatiane", "Priscila",
    "Débora", "Isabela", "Laura", "Helena", "Alice", "Valentina", "Sofia", "Luana",
]  # fmt: skip

FIRST_NAMES_M: list[str] = [
    "José", "João", "Antônio", "Francisco", "Carlos", "Paulo", "Pedro", "Lucas", "Luiz",
    "Marcos", "Luís", "Gabriel", "Rafael", "Daniel", "Marcelo", "Bruno", "Eduardo", "Felipe",
    "Raimundo", "Rodrigo", "Manoel", "Mateus", "André", "Fernando", "Fábio", "Leonardo",
    "Gustavo", "Guilherme", "Leandro", "Tiago", "Anderson", "Ricardo", "Márcio", "Jorge",
    "Sebastião", "Alexandre", "Roberto", "Diego", "Vinícius", "Henrique",
]  # fmt: skip

LAST_NAMES: list[str] = [
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
    "Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares",
    "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira",
    "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos", "Gonçalves",
    "Santana", "Teixeira", "Araújo", "Pinto", "Correia", "Cavalcanti", "Monteiro",
]  # fmt: skip

STREET_TYPES: dict[str, float] = {"Rua": 0.7, "Avenida": 0.18, "Travessa": 0.07, "Alameda": 0.05}

STREET_NAMES: list[str] = [
    "das Flores", "Sete de Setembro", "Tiradentes", "Dom Pedro II", "XV de Novembro",
    "São João", "Santos Dumont", "Rui Barbosa", "Getúlio Vargas", "Marechal Deodoro",
    "das Palmeiras", "Boa Vista", "Primeiro de Maio", "Castro Alves", "José de Alencar",
    "Duque de Caxias", "Barão do Rio Branco", "das Acácias", "Paraná", "Bahia", "Amazonas",
    "Floriano Peixoto", "Frei Caneca", "Augusta", "da Consolação", "Brasil", "Independência",
    "Vinte e Um de Abril", "Machado de Assis", "Carlos Gomes",
]  # fmt: skip

NEIGHBOURHOODS: list[str] = [
    "Centro", "Jardim América", "Vila Nova", "Santa Cecília", "Boa Viagem", "Copacabana",
    "Savassi", "Moema", "Pinheiros", "Tatuapé", "Liberdade", "Bela Vista", "Jardim Paulista",
    "Cidade Nova", "São Cristóvão", "Vila Mariana", "Santo Amaro", "Jardim Europa",
    "Parque São Jorge", "Alto da Boa Vista", "Campo Grande", "Barra", "Aldeota", "Batel",
]  # fmt: skip

# Review titles and messages by sentiment: "good" for scores 4-5, "mixed" for 3, "bad" 1-2.
REVIEW_TITLES: dict[str, list[str]] = {
    "good": [
        "Recomendo", "Super recomendo", "Ótimo", "Excelente", "Muito bom", "Bom produto",
        "Nota 10", "Perfeito", "Adorei", "Chegou antes do prazo", "Amei", "Top",
    ],
    "mixed": ["Bom", "Ok", "Razoável", "Poderia ser melhor", "Mais ou menos", "Regular"],
    "bad": [
        "Não recebi o produto", "Produto não entregue", "Péssimo", "Não recomendo",
        "Produto errado", "Atraso na entrega", "Ruim", "Decepcionado", "Veio com defeito",
    ],
}  # fmt: skip

REVIEW_MESSAGES: dict[str, list[str]] = {
    "good": [
        "Produto muito bom, chegou antes do prazo.",
        "Recomendo, entrega rápida e produto de qualidade.",
        "Tudo certo, conforme o anunciado.",
        "Muito bom",
        "Excelente loja, super recomendo!",
        "Chegou bem embalado e dentro do prazo. Obrigado!",
        "Produto de ótima qualidade, igual à foto.",
        "Gostei muito, comprarei novamente.",
        "Entrega super rápida, estou satisfeita.",
        "Ótimo custo benefício.",
        "Adorei o produto, minha filha amou.",
        "Veio tudo certinho, parabéns à loja",
    ],
    "mixed": [
        "O produto é bom mas a entrega demorou.",
        "Chegou certo, porém a embalagem estava amassada.",
        "Razoável, esperava um pouco mais pelo preço.",
        "Produto ok, nada de especial.",
        "Entregue no prazo, mas veio uma cor diferente da que pedi.",
    ],
    "bad": [
        "Ainda não recebi o produto.",
        "Não recebi o produto e ninguém responde.",
        "Produto veio com defeito, quero trocar.",
        "Comprei dois e só chegou um.",
        "Péssimo atendimento, não recomendo esta loja.",
        "O prazo de entrega já passou e nada do meu pedido.",
        "Veio o produto errado, estou aguardando a troca.",
        "Produto de péssima qualidade, diferente do anúncio.",
    ],
}

# Sentences appended to a message that name a contact; {phone}/{email} are filled in.
CONTACT_PHRASES: list[str] = [
    "me liga no {phone}",
    "contato: {email}",
    "Por favor entrem em contato pelo {phone}",
    "meu e-mail é {email}, aguardo retorno",
    "whatsapp {phone}",
]

# Optional second sentences, by the same sentiments.
SECOND_SENTENCES: dict[str, list[str]] = {
    "good": ["Obrigado.", "Recomendo a todos.", "Voltarei a comprar.", "Nota 10!"],
    "mixed": ["No geral ok.", "Espero melhorar na próxima.", "Atendimento razoável."],
    "bad": ["Aguardo retorno.", "Espero que resolvam logo.", "Quero meu dinheiro de volta."],
}


def ascii_lower(text: str) -> str:
    """``"Antônio Araújo"`` -> ``"antonio araujo"`` (for e-mail local parts)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
