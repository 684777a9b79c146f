"""The keywords and phrasings the matcher relies on and the content files promise."""

from __future__ import annotations

PHRASEBOOK: dict[str, dict[str, tuple[str, ...]]] = {
    "help": {
        "en": ("HELP", "INFO", "i need help with this service", "what is this number"),
        "es": ("AYUDA", "INFO", "que es este numero", "qué es este número"),
    },
    "menu": {
        "en": ("MENU", "OPTIONS", "what can i text", "what can i ask", "list of commands"),
        "es": ("MENU", "MENÚ", "OPCIONES", "que puedo preguntar"),
    },
    "side_effects": {
        "en": (
            "SIDE EFFECTS",
            "SIDE EFFECT",
            "side affects",
            "sideeffects",
            "is it normal to feel dizzy",
            "i feel sick after",
            "i feel weird",
            "nausea",
            "blurry vision",
            "headache after",
        ),
        "es": (
            "EFECTOS SECUNDARIOS",
            "EFECTOS",
            "me siento mareado",
            "me siento mareada",
            "nauseas",
            "náuseas",
            "vision borrosa",
        ),
    },
    "fasting": {
        "en": (
            "FASTING",
            "FAST",
            "can i eat before",
            "can i eat",
            "when should i stop eating",
            "can i drink water",
            "can i have coffee",
            "food before",
        ),
        "es": ("AYUNO", "puedo comer antes", "puedo comer", "puedo tomar agua", "puedo tomar cafe"),
    },
    "arrival": {
        "en": (
            "ARRIVAL",
            "ARRIVE",
            "what should i bring",
            "do i need a driver",
            "what time should i arrive",
            "where do i go",
            "how long is the visit",
            "what to wear",
        ),
        "es": (
            "LLEGADA",
            "que debo traer",
            "necesito conductor",
            "necesito chofer",
            "a que hora llego",
        ),
    },
    "aftercare": {
        "en": (
            "AFTERCARE",
            "AFTER",
            "can i drive home after",
            "can i drive after",
            "can i drink alcohol after",
            "can i go to work after",
            "what to do after",
            "after my session",
        ),
        "es": (
            "CUIDADOS",
            "DESPUES",
            "puedo manejar despues",
            "puedo manejar después",
            "puedo tomar alcohol despues",
            "puedo trabajar despues",
        ),
    },
    "sessions": {
        "en": (
            "SESSIONS",
            "SESSION",
            "how many sessions",
            "how many treatments",
            "how often do i come",
            "booster",
            "boosters",
        ),
        "es": ("SESIONES", "cuantas sesiones", "cuántas sesiones", "cada cuanto"),
    },
    "how_it_works": {
        "en": (
            "HOW IT WORKS",
            "how does it work",
            "how does ketamine work",
            "what does ketamine do",
            "is it safe",
        ),
        "es": ("COMO FUNCIONA", "CÓMO FUNCIONA", "que hace la ketamina", "es seguro"),
    },
    "urgent": {
        "en": ("URGENT", "EMERGENCY NUMBER", "what is an emergency", "when should i call 911"),
        "es": ("URGENTE", "cuando llamo al 911"),
    },
}
