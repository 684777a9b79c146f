"""The inbound-text matcher: safety first, consent words, check-in scores, visit words, topics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.catalog import load_catalog
from messages.corpus import CHECKED, CRISIS_LABELS, Labelled, is_right, read_corpus
from messages.intents import INFO_TOPICS, AppointmentAction, Intent, IntentKind
from messages.matcher import Matcher, classify, default_matcher, rules_only_matcher
from messages.normalize import bare, fold, normalize
from phrasebook import PHRASEBOOK

CRISIS = IntentKind.CRISIS
EMERGENCY = IntentKind.EMERGENCY
OPT_OUT = IntentKind.OPT_OUT
OPT_IN = IntentKind.OPT_IN
SCORE = IntentKind.CHECKIN_SCORE
VISIT = IntentKind.APPOINTMENT
TOPIC = IntentKind.TOPIC
FALLBACK = IntentKind.FALLBACK
NEXT = AppointmentAction.NEXT
CONFIRM = AppointmentAction.CONFIRM
RESCHEDULE = AppointmentAction.RESCHEDULE
RIDE = AppointmentAction.RIDE
CALL = AppointmentAction.CALL
ANY = "any language"  # the case does not pin the language


def case(
    text: str,
    kind: IntentKind,
    detail: str | AppointmentAction | int | bool | None = None,
    language: str | None = ANY,
    *,
    awaiting: bool = False,
) -> object:
    """Return one table row; detail is the topic, action, score or carrier flag the kind carries."""
    return pytest.param(
        text, awaiting, kind, detail, language, id=f"{text!r}{'+checkin' * awaiting}"
    )


CASES = [
    # Crisis, English: the words in CARE.md and their everyday forms.
    case("I want to kill myself", CRISIS, language="en"),
    case("im thinking about killing myself", CRISIS, language="en"),
    case("suicide", CRISIS, language="en"),
    case("I've been feeling suicidal since yesterday", CRISIS, language="en"),
    case("i just want to die", CRISIS, language="en"),
    case("i wanna die", CRISIS),
    case("I want to end my life", CRISIS),
    case("thinking about ending it all tonight", CRISIS),
    case("I don't want to live anymore", CRISIS, language="en"),
    case("dont want to be here anymore", CRISIS),
    case("everyone would be better off dead, me included", CRISIS),
    case("there's no reason to live", CRISIS),
    case("I keep wanting to hurt myself", CRISIS),
    case("i cut myself again", CRISIS),
    case("cutting", CRISIS),
    case("self harm", CRISIS),
    case("I think I took an overdose", CRISIS),
    case("OD", CRISIS, language=None),
    case("I OD'd", CRISIS),
    case("i took all my pills", CRISIS),
    case("took too many pills an hour ago", CRISIS),
    case("I took the whole bottle", CRISIS),
    case("going to hang myself", CRISIS),
    case("i want to jump off a bridge", CRISIS),
    case("I could shoot myself", CRISIS),
    case("goodbye forever", CRISIS),
    # Ambiguous despair errs toward the alarm (CARE.md).
    case("i cant do this anymore", CRISIS, language="en"),
    case("I can't take it anymore", CRISIS),
    case("I feel like I'm dying", CRISIS),
    # Misspelled and run-together crisis words.
    case("sucide", CRISIS),
    case("thinking of suiside", CRISIS),
    case("i want to kil myself", CRISIS),
    case("overdoze", CRISIS),
    case("im sucidal", CRISIS),
    case("I wanna kill my self", CRISIS),
    case("killmyself", CRISIS),
    case("#imsuicidal", CRISIS),
    case("I want to dieeee", CRISIS),
    case("I took an over dose", CRISIS),
    # Crisis, Spanish.
    case("suicidio", CRISIS, language="es"),
    case("estoy pensando en suicidarme", CRISIS, language="es"),
    case("voy a matarme", CRISIS, language="es"),
    case("Me quiero matar", CRISIS, language="es"),
    case("quiero morir", CRISIS, language="es"),
    case("Quiero morirme ya", CRISIS, language="es"),
    case("ya no quiero vivir", CRISIS, language="es"),
    case("voy a quitarme la vida", CRISIS, language="es"),
    case("quiero hacerme daño", CRISIS, language="es"),
    case("tengo ganas de cortarme", CRISIS, language="es"),
    case("creo que es una sobredosis", CRISIS, language="es"),
    case("me tomé todas las pastillas", CRISIS, language="es"),
    case("ya no aguanto", CRISIS, language="es"),
    case("sobredosiss", CRISIS),
    # Crisis beats opt-out and everything after it.
    case("stop texting me i want to die", CRISIS, language="en"),
    case("STOP. I want to kill myself", CRISIS),
    case("deja de enviarme mensajes, quiero morir", CRISIS, language="es"),
    case("3 i want to die", CRISIS, awaiting=True),
    case("C. also i took all my pills", CRISIS),
    # Medical emergencies (CARE.md: call 911).
    case("I have chest pain", EMERGENCY, language="en"),
    case("my chest hurts really bad", EMERGENCY),
    case("i cant breathe", EMERGENCY),
    case("I'm having trouble breathing", EMERGENCY),
    case("its hard to breathe", EMERGENCY),
    case("she is having a seizure", EMERGENCY),
    case("I fainted in the car", EMERGENCY),
    case("i think im passing out", EMERGENCY),
    case("he passed out", EMERGENCY),
    case("worst headache of my life", EMERGENCY),
    case("severe headache that came on suddenly", EMERGENCY),
    case("I lost my vision for a minute", EMERGENCY),
    case("I can't see anything", EMERGENCY),
    case("my throat is swelling", EMERGENCY),
    case("my face is swelling up", EMERGENCY),
    case("I can't wake him up", EMERGENCY),
    case("she is hard to wake", EMERGENCY),
    case("i have chest pian", EMERGENCY),
    case("siezure", EMERGENCY),
    case("EMERGENCY", EMERGENCY),
    case("tengo dolor de pecho", EMERGENCY, language="es"),
    case("no puedo respirar", EMERGENCY, language="es"),
    case("le dio una convulsión", EMERGENCY, language="es"),
    case("me desmayé", EMERGENCY, language="es"),
    case("tengo un dolor de cabeza muy fuerte", EMERGENCY, language="es"),
    case("no puedo ver", EMERGENCY, language="es"),
    case("se me hincha la garganta", EMERGENCY, language="es"),
    case("stop, i can't breathe", EMERGENCY),
    # Benign texts that must not raise a crisis or emergency.
    case("I'm dying to know my appointment time", VISIT, NEXT, "en"),
    case("killing it at work today", FALLBACK, language="en"),
    case("this traffic is killing me", FALLBACK),
    case("that cake was to die for", FALLBACK),
    case("can I eat before?", TOPIC, "fasting", "en"),
    case("I feel like I could sleep forever after", TOPIC, "aftercare"),
    case("the pain in my back is better", FALLBACK),
    case("I'm so tired after", TOPIC, "aftercare"),
    case("I have a headache", TOPIC, "side_effects", "en"),
    case("blurry vision after the session", TOPIC, "side_effects"),
    case("headache after", TOPIC, "side_effects"),
    case("I was cutting back on coffee", TOPIC, "fasting"),
    case("just checking in", FALLBACK),
    case("still finding the address", FALLBACK),
    case("I woke up dizzy", TOPIC, "side_effects"),
    case("I'm on a diet, can I eat before?", TOPIC, "fasting"),
    case("my phone is dying, call me", VISIT, CALL),
    case("I'm dyeing my hair after", TOPIC, "aftercare"),
    case("puedes contarme mas?", FALLBACK, language="es"),
    case("me muero de ganas de empezar", FALLBACK, language="es"),
    case("quiero cortarme el pelo despues", TOPIC, "aftercare", "es"),
    case("me siento mareado", TOPIC, "side_effects", "es"),
    case("what time is it", FALLBACK),
    case("can't see my appointment in the app", FALLBACK),
    # Opt-out: Twilio's own words alone carry the carrier flag.
    case("STOP", OPT_OUT, True, None),
    case("stop", OPT_OUT, True, None),
    case("  Stop. ", OPT_OUT, True, None),
    case("STOP!", OPT_OUT, True, None),
    case("STOPALL", OPT_OUT, True, None),
    case("Unsubscribe", OPT_OUT, True, None),
    case("CANCEL", OPT_OUT, True, None),
    case("end", OPT_OUT, True, None),
    case("QUIT", OPT_OUT, True, None),
    case("revoke", OPT_OUT, True, None),
    case("OPTOUT", OPT_OUT, True, None),
    case("STOOOOP", OPT_OUT, False),
    case("stop 🛑", OPT_OUT, False),
    case("stop texting me", OPT_OUT, False, "en"),
    case("please stop", OPT_OUT, False, "en"),
    case("Stop messaging me", OPT_OUT, False),
    case("remove me from this list", OPT_OUT, False, "en"),
    case("take me off your list", OPT_OUT, False),
    case("unsubscribe me", OPT_OUT, False),
    case("don't text me anymore", OPT_OUT, False, "en"),
    case("no more texts please", OPT_OUT, False),
    case("opt me out", OPT_OUT, False),
    case("opt out", OPT_OUT, False),
    case("No me envíen más mensajes", OPT_OUT, False, "es"),
    case("ya no quiero mensajes", OPT_OUT, False, "es"),
    case("quiero darme de baja", OPT_OUT, False, "es"),
    case("BAJA", OPT_OUT, False, "es"),
    case("Para", OPT_OUT, False, "es"),
    case("when do I stop eating", TOPIC, "fasting", "en"),
    case("para que es este numero", TOPIC, "help", "es"),
    # "cancel" inside a sentence is about the visit: staff get a reschedule request.
    case("cancel my appointment", VISIT, RESCHEDULE, "en"),
    case("I need to cancel", VISIT, RESCHEDULE, "en"),
    case("necesito cancelar mi cita", VISIT, RESCHEDULE, "es"),
    # Opt-in.
    case("START", OPT_IN, True, None),
    case("yes", OPT_IN, True, None),
    case("Yes!", OPT_IN, True, None),
    case("UNSTOP", OPT_IN, True, None),
    case("start texting me again", OPT_IN, False, "en"),
    case("resubscribe", OPT_IN, False),
    case("opt back in", OPT_IN, False),
    case("sí", OPT_IN, False, "es"),
    case("Si", OPT_IN, False, "es"),
    # Check-in scores only while a check-in awaits an answer.
    case("3", SCORE, 3, None, awaiting=True),
    case(" 4 ", SCORE, 4, awaiting=True),
    case("4!", SCORE, 4, awaiting=True),
    case("a 2", SCORE, 2, awaiting=True),
    case("2/5", SCORE, 2, awaiting=True),
    case("4 out of 5", SCORE, 4, awaiting=True),
    case("5 thanks", SCORE, 5, awaiting=True),
    case("it's a 3", SCORE, 3, "en", awaiting=True),
    case("1", SCORE, 1, awaiting=True),
    case("three", SCORE, 3, "en", awaiting=True),
    case("tres", SCORE, 3, "es", awaiting=True),
    case("2, feeling pretty low", SCORE, 2, awaiting=True),
    case("3 😊", SCORE, 3, awaiting=True),
    case("3", FALLBACK, None, None),
    case("5", FALLBACK),
    case("10", FALLBACK, awaiting=True),
    case("0", FALLBACK, awaiting=True),
    case("3 or 4", FALLBACK, awaiting=True),
    case("1-2", FALLBACK, awaiting=True),
    case("2 hours before?", TOPIC, "fasting", awaiting=True),
    case("yes", OPT_IN, True, awaiting=True),
    # Appointment words.
    # The Spanish menu teaches NEXT, RIDE and CALL: alone they keep the patient's language.
    case("NEXT", VISIT, NEXT, None),
    case("next", VISIT, NEXT),
    case("when is my next appointment", VISIT, NEXT, "en"),
    case("When is my appointment?", VISIT, NEXT),
    case("PROXIMA", VISIT, NEXT, "es"),
    case("¿Cuándo es mi cita?", VISIT, NEXT, "es"),
    case("mi próxima cita", VISIT, NEXT, "es"),
    case("C", VISIT, CONFIRM, None),
    case("c.", VISIT, CONFIRM, None),
    case("confirm", VISIT, CONFIRM),
    case("I confirm", VISIT, CONFIRM),
    case("Confirmed!", VISIT, CONFIRM),
    case("yes i confirm", VISIT, CONFIRM),
    case("Confirmo", VISIT, CONFIRM, "es"),
    case("R", VISIT, RESCHEDULE, None),
    case("reschedule", VISIT, RESCHEDULE),
    case("I need to reschedule", VISIT, RESCHEDULE, "en"),
    case("can I move my appointment", VISIT, RESCHEDULE),
    case("i need to reschedual", VISIT, RESCHEDULE),
    case("necesito cambiar cita", VISIT, RESCHEDULE, "es"),
    case("quiero reprogramar", VISIT, RESCHEDULE, "es"),
    case("RIDE", VISIT, RIDE, None),
    case("I have a ride", VISIT, RIDE),
    case("my driver is confirmed", VISIT, RIDE),
    case("tengo quien me lleve", VISIT, RIDE, "es"),
    case("ya tengo conductor", VISIT, RIDE, "es"),
    case("I don't have a ride", FALLBACK),
    case("CALL", VISIT, CALL, None),
    case("call me", VISIT, CALL),
    case("please call me", VISIT, CALL),
    case("can someone call me?", VISIT, CALL),
    case("LLAMAR", VISIT, CALL, "es"),
    case("llámenme por favor", VISIT, CALL, "es"),
    case("call me to reschedule", VISIT, RESCHEDULE),
    case("c you tomorrow", FALLBACK),
    # Topics: keywords, phrasings, misspellings, keyword inside a sentence.
    case("HELP", TOPIC, "help", None),
    case("INFO", TOPIC, "help", None),
    case("what is this number?", TOPIC, "help", "en"),
    case("MENU", TOPIC, "menu", None),
    case("options", TOPIC, "menu", "en"),
    case("what can I ask?", TOPIC, "menu"),
    case("SIDE EFFECTS", TOPIC, "side_effects", "en"),
    case("side effects", TOPIC, "side_effects"),
    case("what are the side effects?", TOPIC, "side_effects", "en"),
    case("side affects", TOPIC, "side_effects"),
    case("sied effects", TOPIC, "side_effects"),
    case("Side-effects??", TOPIC, "side_effects"),
    case("is it normal to feel dizzy", TOPIC, "side_effects"),
    case("nausea 🤢", TOPIC, "side_effects"),
    case("FASTING", TOPIC, "fasting", "en"),
    case("fastng", TOPIC, "fasting"),
    case("can i drink water before", TOPIC, "fasting"),
    case("Can I have coffee in the morning?", TOPIC, "fasting"),
    case("my session is tomorrow, can I eat?", TOPIC, "fasting"),
    case("ARRIVAL", TOPIC, "arrival"),
    case("what should I bring?", TOPIC, "arrival", "en"),
    case("do I need a driver", TOPIC, "arrival"),
    case("what time should i arrive", TOPIC, "arrival"),
    case("AFTERCARE", TOPIC, "aftercare"),
    case("afercare", TOPIC, "aftercare"),
    case("after care", TOPIC, "aftercare"),
    case("can I drive home after?", TOPIC, "aftercare", "en"),
    case("Am I allowed to drive after?", TOPIC, "aftercare"),
    case("is it safe to drive after", TOPIC, "aftercare"),
    case("can i drink alcohol after", TOPIC, "aftercare"),
    case("what should i do after my session", TOPIC, "aftercare"),
    case("i feel sick after my session", TOPIC, "side_effects"),
    case("SESSIONS", TOPIC, "sessions"),
    case("how many sessions will I need", TOPIC, "sessions"),
    case("sessons", TOPIC, "sessions"),
    case("do I need boosters?", TOPIC, "sessions"),
    case("HOW IT WORKS", TOPIC, "how_it_works", "en"),
    case("how it work", TOPIC, "how_it_works"),
    case("how does ketamine work?", TOPIC, "how_it_works"),
    case("is it safe?", TOPIC, "how_it_works"),
    case("URGENT", TOPIC, "urgent"),
    case("when should i call 911", TOPIC, "urgent", "en"),
    case("what's the emergency number", TOPIC, "urgent"),
    # Spanish topics.
    case("AYUDA", TOPIC, "help", "es"),
    case("qué es este número", TOPIC, "help", "es"),
    case("MENÚ", TOPIC, "menu", None),
    case("OPCIONES", TOPIC, "menu", "es"),
    case("efectos secundarios", TOPIC, "side_effects", "es"),
    case("tengo náuseas", TOPIC, "side_effects", "es"),
    case("AYUNO", TOPIC, "fasting", "es"),
    case("¿Puedo comer antes?", TOPIC, "fasting", "es"),
    case("puedo tomar cafe en la mañana", TOPIC, "fasting", "es"),
    case("LLEGADA", TOPIC, "arrival", "es"),
    case("¿Qué debo traer?", TOPIC, "arrival", "es"),
    case("¿Puedo manejar después?", TOPIC, "aftercare", "es"),
    case("DESPUÉS", TOPIC, "aftercare", "es"),
    case("¿Cuántas sesiones necesito?", TOPIC, "sessions", "es"),
    case("Cómo funciona", TOPIC, "how_it_works", "es"),
    case("¿Es seguro?", TOPIC, "how_it_works", "es"),
    case("URGENTE", TOPIC, "urgent", "es"),
    # Fallback and language.
    case("", FALLBACK, None, None),
    case("👍", FALLBACK, None, None),
    case("ok", FALLBACK, None, None),
    case("hola", FALLBACK, None, "es"),
    case("thanks so much!", FALLBACK, None, "en"),
    case("asdfgh", FALLBACK, None, None),
    # Overdose and method words with other words between them, in any order.
    case("I took 30 pills", CRISIS, language="en"),
    case("took a handful of pills", CRISIS),
    case("i swallowed a bunch of pills", CRISIS),
    case("i took all the pills", CRISIS),
    case("i took all of my sleeping pills", CRISIS),
    case("took 20 of my xanax", CRISIS),
    case("i took a whole bottle of tylenol", CRISIS),
    case("i took too much", CRISIS),
    case("I took like twenty of my meds", CRISIS),
    case("took 30 💊", CRISIS),
    case("me tomé un montón de pastillas", CRISIS, language="es"),
    case("me tome el frasco entero", CRISIS, language="es"),
    case("me tomé 20 pastillas", CRISIS, language="es"),
    # Spanish with the pronoun before the verb, and misspelt.
    case("me quiero quitar la vida", CRISIS, language="es"),
    case("me voy a quitar la vida", CRISIS, language="es"),
    case("me quiero hacer daño", CRISIS, language="es"),
    case("me estoy haciendo daño", CRISIS, language="es"),
    case("me quiero cortar", CRISIS, language="es"),
    case("me kiero matar", CRISIS, language="es"),
    case("me voy a aventar", CRISIS, language="es"),
    case("no quiero seguir", CRISIS, language="es"),
    case("no puedo seguir asi", CRISIS, language="es"),
    case("ya no quiero estar aquí", CRISIS, language="es"),
    # Other wordings, run-together words, digits for letters and emoji for words.
    case("life isn't worth living", CRISIS, language="en"),
    case("i want to end it", CRISIS),
    case("thinking about ending it", CRISIS),
    case("i feel like dying", CRISIS),
    case("i want too die", CRISIS),
    case("iwanttodie", CRISIS),
    case("i want to d1e", CRISIS),
    case("k1ll myself", CRISIS),
    case("su1c1de", CRISIS),
    case("i want to 💀", CRISIS),
    case("wish i could just disappear", CRISIS),
    case("STOP I want to die", CRISIS),
    # Benign texts near those words are not crises.
    case("I took my pills this morning, can I eat?", TOPIC, "fasting"),
    case("can I take all my meds that morning?", FALLBACK),
    case("I took 2 advil for my headache", TOPIC, "side_effects"),
    case("i want the side effects to die down", TOPIC, "side_effects"),
    case("¿me puede hacer daño?", FALLBACK),
    case("me voy a cortar el pelo", FALLBACK),
    case("me voy a morir de hambre", FALLBACK),
    case("lol 💀", FALLBACK),
    case("see you at 10am", FALLBACK),
    # Medical emergencies in other words.
    case("heart pounding and chest tight", EMERGENCY, language="en"),
    case("i feel like i'm going to faint", EMERGENCY),
    case("me duele mucho el pecho", EMERGENCY, language="es"),
    case("I can't see anything", EMERGENCY),
    case("i cant see", EMERGENCY),
    # Not seeing someone is a visit question, not lost sight; a gun show is not a gun.
    case("I can't see the doctor tomorrow, can we reschedule?", VISIT, RESCHEDULE),
    case("can't see you thursday, need another day", VISIT, RESCHEDULE),
    case("no puedo ver al doctor mañana", FALLBACK),
    case("I have a gun show this weekend can we reschedule", VISIT, RESCHEDULE),
    # Opt-out in other words.
    case("no thanks, stop", OPT_OUT, False),
    case("no stop", OPT_OUT, False),
    case("stop stop stop", OPT_OUT, False),
    case("stop, thank you", OPT_OUT, False),
    case("I no longer want these texts", OPT_OUT, False, "en"),
    case("i dont want these texts anymore", OPT_OUT, False),
    case("ya no quiero estos mensajes", OPT_OUT, False, "es"),
    case("how do I get off this list", OPT_OUT, False),
    case("wrong number", OPT_OUT, False),
    case("quit texting me", OPT_OUT, False),
    case("please remove this number", OPT_OUT, False),
    case("delete my number", OPT_OUT, False),
    case("basta ya", OPT_OUT, False, "es"),
    case("numero equivocado", OPT_OUT, False, "es"),
    case("when do I stop eating", TOPIC, "fasting"),
    # A dictionary word is not "corrected" into a safety word one letter away.
    case("my nose is stuffy today", FALLBACK),
    case("you guys are the best", FALLBACK),
    case("i looked everywhere for parking", FALLBACK),
    case("saying thanks to the nurses", FALLBACK),
    case("no, stop texting me", OPT_OUT, False),
]


@pytest.mark.parametrize(("text", "awaiting", "kind", "detail", "language"), CASES)
def test_each_text_gets_the_expected_intent(
    text: str,
    awaiting: bool,
    kind: IntentKind,
    detail: str | AppointmentAction | int | bool | None,
    language: str | None,
) -> None:
    intent = answer_allowing_known_false_alarm(text, awaiting)
    assert intent.kind is kind, intent
    if kind is TOPIC:
        assert intent.topic == detail, intent
    elif kind is VISIT:
        assert intent.action is detail, intent
    elif kind is SCORE:
        assert intent.score == detail, intent
    elif kind in (OPT_OUT, OPT_IN) and detail is not None:
        assert intent.carrier_keyword is detail, intent
    if language != ANY:
        assert intent.language == language, intent


def test_the_table_is_large_and_covers_every_kind_and_topic() -> None:
    kinds = {row.values[2] for row in CASES}
    topics = {row.values[3] for row in CASES if row.values[2] is TOPIC}
    safety = [row for row in CASES if row.values[2] in (CRISIS, EMERGENCY)]
    assert len(CASES) >= 170
    assert kinds == set(IntentKind)
    assert topics == set(INFO_TOPICS)
    assert len(safety) >= 35


def test_only_twilio_keywords_alone_carry_the_carrier_flag() -> None:
    for text in ("STOP", "stop.", "Cancel", "END", "START", "yes", "unstop"):
        assert classify(text).carrier_keyword, text
    for text in ("stop please", "please stop", "stop texting me", "start again", "si"):
        assert not classify(text).carrier_keyword, text


def test_cancel_and_yes_are_never_appointment_answers() -> None:
    for text in ("CANCEL", "cancel", "Cancel!", "YES", "yes", "Yes."):
        for awaiting in (False, True):
            intent = classify(text, awaiting_checkin=awaiting)
            assert intent.kind in (OPT_OUT, OPT_IN), (text, intent)
            assert intent.action is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("stop texting me i want to die", True),
        ("STOP. I want to kill myself", True),
        ("i want to die, unsubscribe me", True),
        ("quiero morir. BAJA", True),
        ("i want to die", False),
        ("please make it stop, i want to die", False),
        ("STOP I want to die", True),
        ("i want to die STOP", True),
        ("ALTO quiero morir", True),
        ("STOP 🛑 i want to die", True),
        ("make it STOP i want to die", False),
        ("stop the pain i want to die", False),
        ("when do I stop eating", False),
    ],
)
def test_a_crisis_text_that_also_says_stop_is_an_opt_out_second(text: str, expected: bool) -> None:
    assert default_matcher().mentions_opt_out(text) is expected
    assert classify(text).kind in (CRISIS, TOPIC)


@pytest.mark.parametrize(
    "text",
    ["please don't stop the reminders", "never stop texting me", "no dejen de enviarme mensajes"],
)
def test_a_negation_just_before_an_opt_out_phrase_turns_it_around(text: str) -> None:
    assert classify(text).kind is not OPT_OUT
    assert not default_matcher().mentions_opt_out(text)
    plain = text.replace("don't ", "").replace("never ", "").replace("no ", "")
    assert classify(plain).kind is OPT_OUT


@pytest.mark.parametrize(
    "text", ["can you stop calling and just text me instead?", "stop calling me, texts are fine"]
)
def test_asking_for_texts_instead_of_calls_is_not_an_opt_out(text: str) -> None:
    assert classify(text).kind is not OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "my eye keeps twitching",
        "im really confused about the bill",
        "my anxiety is through the roof",
        "i almost fell asleep in the waiting room",
        "the screen went dark",
        "is everything in order for friday?",
        "can we go over everything at my appointment",
        "get the most out of life",
        "tengo ganas de vivir",
        "mi mama no contesta el telefono",
        "quitenme la cita del martes",
        "im crushing it today",
        "i was hallucinating during the session, is that normal",
    ],
)
def test_everyday_texts_near_alarm_words_raise_no_alarm(text: str) -> None:
    assert answer_allowing_known_false_alarm(text).kind not in (CRISIS, EMERGENCY, OPT_OUT)


# Everyday texts the crisis screen answers as a crisis although no rule does: accepted false
# alarms (CARE.md: err toward false alarms), each still checked against the rules. A text
# leaves this list when the screen stops flagging it; tests/test_screen.py bounds how often
# this happens on texts nobody tuned for.
KNOWN_SCREEN_FALSE_ALARMS = frozenset(
    {
        "i looked everywhere for parking",
        "get the most out of life",
        "tengo ganas de vivir",
    }
)


def answer_allowing_known_false_alarm(text: str, awaiting: bool = False) -> Intent:
    """Return the matcher's answer; for a known false alarm, check it and return the rules'."""
    intent = classify(text, awaiting_checkin=awaiting)
    if text not in KNOWN_SCREEN_FALSE_ALARMS:
        return intent
    assert intent.kind is CRISIS and intent.screened, intent
    return rules_only_matcher().classify(text, awaiting_checkin=awaiting)


def test_the_same_text_gets_the_same_answer_in_every_process() -> None:
    # Two gunicorn workers have different hash seeds; these texts tie between two topics.
    texts = [
        "estoy super cansada after la sesión, es normal?",
        "my psych said maybe stop the abilify for a bit, does that matter for ketamine",
        "estoy muerta de cansancio después de la sesión, ¿es normal?",
    ]
    script = (
        "import sys; from messages.matcher import classify; "
        "print([classify(t).topic for t in sys.argv[1:]])"
    )
    answers = {
        subprocess.run(
            [sys.executable, "-c", script, *texts],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        ).stdout
        for seed in range(6)
    }
    assert len(answers) == 1, answers


def test_safety_intents_are_flagged_for_the_reply_cap() -> None:
    assert classify("i want to die").is_safety
    assert classify("chest pain").is_safety
    assert not classify("side effects").is_safety


def test_the_literal_phrasebook_from_the_contract_classifies_its_own_phrasings() -> None:
    matcher = Matcher(PHRASEBOOK)
    for topic, languages in PHRASEBOOK.items():
        for phrases in languages.values():
            for phrase in phrases:
                intent = matcher.classify(phrase)
                assert intent == Intent(IntentKind.TOPIC, intent.language, topic=topic), phrase


def test_the_catalog_phrasebook_classifies_its_own_phrasings() -> None:

    for topic, languages in load_catalog().phrasebook().items():
        for phrases in languages.values():
            for phrase in phrases:
                intent = classify(phrase)
                assert (intent.kind, intent.topic) == (TOPIC, topic), (phrase, intent)


def test_a_phrasebook_with_an_unknown_topic_is_refused() -> None:
    with pytest.raises(ValueError, match="not info topics"):
        Matcher({"billing": {"en": ("how much",)}})


def test_the_default_matcher_is_built_once() -> None:
    assert default_matcher() is default_matcher()


def test_normalisation_folds_case_accents_apostrophes_and_shorthand() -> None:
    assert fold("Después ÑANDÚ") == "despues nandu"
    assert normalize("Don't  TEXT me!!! 😡") == ("dont", "text", "me")
    assert normalize("pls call me tmrw") == ("please", "call", "me", "tomorrow")
    assert normalize("i wanna die") == ("i", "want", "to", "die")
    assert normalize("I do not want to") == ("i", "dont", "want", "to")
    assert normalize("stooooop") == ("stoop",)
    assert bare("  Stop.\n") == "stop"


@settings(max_examples=300, deadline=None)
@given(st.text(), st.booleans())
def test_classify_never_raises_and_returns_a_known_kind(text: str, awaiting: bool) -> None:
    intent = classify(text, awaiting_checkin=awaiting)
    assert intent.kind in set(IntentKind)
    assert intent.language in (None, "en", "es")
    if intent.kind is TOPIC:
        assert intent.topic in INFO_TOPICS
    if intent.kind is SCORE:
        assert awaiting and intent.score in range(1, 6)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["i want to die", "sucide", "me quiero matar", "chest pain"]))
def test_a_safety_phrase_wrapped_in_punctuation_and_emoji_stays_a_safety_intent(
    noise: str, phrase: str
) -> None:
    padding = "".join(ch for ch in noise if not ch.isalnum())
    intent = classify(f"{padding} {phrase} {padding}")
    assert intent.is_safety


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("❶", IntentKind.FALLBACK),
        ("took ❶ pills", IntentKind.FALLBACK),
        ("i took ² xanax", IntentKind.FALLBACK),
        ("took ٣٠ pills", IntentKind.CRISIS),  # Arabic-Indic digits: thirty
        ("took 30 pills", IntentKind.CRISIS),
    ],
)
def test_digit_like_symbols_are_not_counts(text: str, expected: IntentKind) -> None:
    """A symbol Python calls a digit but cannot read as a number ("❶") is no count, no crash."""
    # The rules alone: the screen may well flag "took ❶ pills", which is no count either.
    assert rules_only_matcher().classify(text).kind is expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_awaiting_a_checkin_only_changes_the_answer_into_a_score(text: str) -> None:
    plain = classify(text)
    awaiting = classify(text, awaiting_checkin=True)
    assert awaiting == plain or awaiting.kind is SCORE


def _corpus() -> list[object]:
    """Return the texts the rules were fixed for (messages/corpus/rounds_1_8.tsv) as parameters."""
    return [pytest.param(row, id=f"{row.label}:{row.text!r}") for row in read_corpus(CHECKED)]


@pytest.mark.parametrize("row", _corpus())
def test_realistic_texts_get_the_safety_and_consent_answer_they_need(row: Labelled) -> None:
    # The rules alone: the screen trained on these texts and would hide a rule that broke.
    right, said = is_right(rules_only_matcher(), row)
    assert right, (said, rules_only_matcher().mentions_opt_out(row.text))
    if row.label not in CRISIS_LABELS:
        # And the screen must not turn one of them into a crisis.
        assert is_right(default_matcher(), row)[0], default_matcher().classify(row.text)


def test_the_realistic_corpus_covers_every_kind_in_both_languages() -> None:
    counts: dict[str, int] = {}
    for row in _corpus():
        label = row.values[0].label
        counts[label] = counts.get(label, 0) + 1
    assert counts["crisis"] >= 200 and counts["benign"] >= 100 and counts["opt_out"] >= 30
    assert counts["emergency"] >= 50 and counts["crisis+stop"] >= 5


@pytest.mark.parametrize("text", [row.values[0] for row in CASES if not row.values[1]][:120])
def test_case_and_spacing_do_not_change_the_answer(text: str) -> None:
    expected = classify(text)
    assert classify(f"  {text.upper()}  ").kind is expected.kind
    assert classify(text.lower()).kind is expected.kind
