"""Word lists the inbound-text matcher checks before the phrasebook: safety, consent, visits.

Phrases are written as people type them; the matcher folds case, accents and apostrophes, so
"don't" also matches "dont" and "DONT". A lone "*" stands for at most one extra word ("want to *
die" matches "want to die" and "want to just die"). Lists are keyed by language: "en", "es", or
"any" for words that say nothing about the language.
"""

from __future__ import annotations

from messages.intents import AppointmentAction

Phrases = dict[str, tuple[str, ...]]


def _words(text: str) -> frozenset[str]:
    """Return the whitespace-separated words of text as a set."""
    return frozenset(text.split())


# Suicide, wanting to die, self-harm, overdose and method words, checked first, anywhere in the
# text. CARE.md: err toward false alarms, so ambiguous despair ("i can't do this anymore") is in.
CRISIS: Phrases = {
    "any": ("od", "kms"),
    "en": (
        "suicide",
        "suicidal",
        "kill myself",
        "killing myself",
        "end myself",
        "unalive",
        "unalive myself",
        "want to * die",
        "wanting to die",
        "want to be dead",
        "wish i * die",
        "wish i was dead",
        "wish i were dead",
        "wish i was never born",
        "wish i wasnt alive",
        "ready to die",
        "going to die",
        "deserve to die",
        # "I'm dying" after an infusion may be panic or a medical problem; the crisis reply covers
        # 911 too, so it is caught here rather than left to the topic matcher. Idioms are masked.
        "im dying",
        "i am dying",
        "feel like im dying",
        "feel like dying",
        "feeling like dying",
        "end my life",
        "end my own life",
        "ending my life",
        "take my life",
        "take my own life",
        "taking my life",
        "end it all",
        "ending it all",
        "end things",
        "ending things",
        "want it to end",
        "want it all to end",
        "dont want to live",
        "dont want to be alive",
        "dont want to exist",
        "dont want to be here",
        "dont want to wake up",
        "dont want to go on",
        "dont deserve to live",
        "never wake up",
        "want to sleep forever",
        "better off dead",
        "better off without me",
        "no reason to live",
        "no reason to keep living",
        "nothing to live for",
        "no point in living",
        "no point living",
        "what is the point of living",
        "not worth living",
        "isnt worth living",
        "no longer worth living",
        "life isnt worth",
        "life is not worth",
        "life aint worth",
        "tired of living",
        "tired of life",
        "done with life",
        "done with living",
        "give up on life",
        "giving up on life",
        "cant do this anymore",
        "cant do it anymore",
        "cant take it anymore",
        "cant take this anymore",
        "cant go on",
        "cant keep going",
        "cant live like this",
        "dont want to do this anymore",
        "hate my life",
        "hate being alive",
        "hate myself",
        "nobody would miss me",
        "no one would miss me",
        "nobody would care if i",
        "no one would care if i",
        "im a burden",
        "burden to everyone",
        "life is pointless",
        "life is meaningless",
        "want to disappear",
        "wish i could * disappear",
        "wish i could * vanish",
        "wish i could * die",
        "wish i could * sleep forever",
        "disappear forever",
        "plan to end it",
        "going to end it",
        "want to * end it",
        "ready to end it",
        "decided to end it",
        "about to end it",
        "thinking about ending it",
        "thinking of ending it",
        "think about ending it",
        "just end it",
        "end it now",
        "end it tonight",
        "end it today",
        "kill me now",
        "please kill me",
        "just kill me",
        "someone kill me",
        "hurt myself",
        "hurting myself",
        "harm myself",
        "harming myself",
        "self harm",
        "self harming",
        "selfharm",
        "cut myself",
        "cutting myself",
        "cutting",
        "burn myself",
        "burning myself",
        "slit my wrists",
        "slit my wrist",
        "cut my wrists",
        "hang myself",
        "hanging myself",
        "jump off a bridge",
        "jump off a building",
        "jump off the bridge",
        "jump off the roof",
        "jump in front of",
        "shoot myself",
        "gun to my head",
        "bought a gun",
        "got a gun",
        "have a gun",
        "loaded gun",
        "goodbye letter",
        "goodbye letters",
        "goodbye note",
        "overdose",
        "overdosed",
        "overdosing",
        "took all my pills",
        "took all of my pills",
        "took all my meds",
        "took all my medication",
        "took too many pills",
        "took too many",
        "took too much",
        "took way too much",
        "took way too many",
        "taken too much",
        "taken too many",
        "going to take all",
        "want to take all",
        "going to swallow",
        "want to swallow",
        "took a bunch of pills",
        "took the whole bottle",
        "whole bottle of pills",
        "swallowed * pills",
        "goodbye forever",
        "this is goodbye",
        "final goodbye",
        # Urgency added to "help": a plain "help me" stays the HELP topic (it names 988 and 911).
        "someone help me",
        "somebody help me",
        "i need help now",
        "i need help right now",
        # Attempts, plans and euphemisms.
        "i attempted",
        "attempted again",
        "tried to end it",
        "ending it tonight",
        "ending it today",
        "unaliving",
        "unalived",
        "self delete",
        "delete myself",
        "sewer slide",
        "sewerslide",
        "sui thoughts",
        "to sleep forever",
        "hope i dont wake up",
        "so i dont wake up",
        "not to wake up",
        "to not wake up",
        "cant do life",
        "i cant anymore",
        "done with everything",
        "tired of everything",
        "no point anymore",
        "whats the point anymore",
        "no reason to keep going",
        "see a way out",
        "better off if i",
        "make it through the night",
        "how much longer i can",
        "cant hold on",
        # Farewells.
        "is my last text",
        "be my last text",
        "is my last message",
        "be my last message",
        "wont be around much longer",
        "wont be here much longer",
        "wont be around anymore",
        "wont be here anymore",
        "wont be around anyway",
        "wont be here anyway",
        "wont be needing them anymore",
        "letters to my family",
        "letter to my family",
        "giving away my",
        "gave away my",
        "goodbye everyone",
        # Methods.
        "noose",
        "have the pills ready",
        "got the pills ready",
        "pills lined up",
        "empty pill bottles",
        "empty pill bottle",
        "into oncoming traffic",
        "oncoming traffic",
        "in front of a train",
        "step in front of",
        "walk in front of",
        "throw myself in front of",
        "drive my car into",
        "use it on myself",
        "arms are bleeding",
        "wrists are bleeding",
        "wrist is bleeding",
        "self harmed",
        "i cut again",
        "sh again",
        "sh urges",
        "did sh",
        "relapsed",
        "cutting again",
        "urge to cut",
        "urges to cut",
        "burned myself",
        "burnt myself",
        # Someone else in danger.
        "kill himself",
        "kill herself",
        "kill themselves",
        "killing himself",
        "killing herself",
        "end his life",
        "end her life",
        "ending his life",
        "ending her life",
        "hurt himself",
        "hurt herself",
        "hang himself",
        "hang herself",
        "shoot himself",
        "shoot herself",
        "use it on himself",
        "use it on herself",
        "stockpiling",
        "stockpiled",
        "stockpile",
        "i have a plan and",
        "plan and the means",
        "painless ways to die",
        "painless way to die",
        "ways to die",
        "how to kill yourself",
        "kill someone",
        "would it take to kill",
        "till they bled",
        "till it bled",
        "until they bled",
        "until it bled",
        "till i bled",
        "until i bled",
        "carved into my",
        "carving into my",
        "im not safe",
        "i am not safe",
        "not safe with myself",
        "dont feel safe with myself",
        "not safe right now",
        "not safe tonight",
        "stop existing",
        "stop forever",
        "rest forever",
        "sleep permanently",
        "take me in my sleep",
        "takes me in my sleep",
        "out of options",
        "last hope",
        "no hope left",
        "hopeless",
        "done for good",
        "such a burden",
        "a burden to",
        "feel like a burden",
        "fine without me",
        "better without me",
        "sorry for everything",
        "tell my * im sorry",
        "goodbye message",
        "goodbye post",
        "goodbye video",
        "want to be here anymore",
        "want to be alive anymore",
        "want to live anymore",
        "be alive anymore",
        "not going to be alive",
        "wont be alive",
        "estar alive",
        "cant keep doing this",
        "cant do this any longer",
        "if i wasnt here",
        "if i werent here",
        "if i wasnt around",
        "if i was gone",
        "if i were gone",
        "whats the point of any",
        "what is the point of any",
        "thank you for trying",
        "did your best",
        "wasnt her fault",
        "wasnt his fault",
        "wasnt your fault",
        "or any appointment",
        "made my decision",
        "myself being alive",
        "see myself alive",
        "and not wake up",
        "and never wake up",
        "waste of space",
        "no way out of this",
        "theres no way out",
        "done trying",
        "never going to get better",
        "keep living like this",
        "did something stupid",
        "almost didnt make it",
        "dont trust myself",
        "take my pills away",
        "take my meds away",
        "take my gun away",
        "hide my pills",
        "notes to my",
        "note to my kids",
        "affairs in order",
        "quit life",
        "six feet under",
        "god to take me",
        "god take me",
        "point in waking up",
        "going to disappear",
        "no one will find me",
        "i give up",
        "how im going to do it",
        "everything i need to do it",
        "tonights the night",
        "dont care about anything",
        "over everything",
        "wrote my will",
        "go be with my",
        # Words that, in a text to this clinic, are almost never about anything else.
        "lethal",
        "blade",
        "blades",
        "razor",
        "razors",
        "knives",
        "handgun",
        "rifle",
        "shotgun",
        "firearm",
        "tailpipe",
        "helium",
        "charcoal",
        "morphine",
        "bleach",
        "antifreeze",
        "ventilator",
        "my funeral",
        "my own funeral",
        "mi funeral",
        "beneficiary",
        "permanently",
        "vanish",
        "wrists",
        "urges",
        "ledge",
        "ctb",
        "kys",
        "dirt nap",
        "psych ward",
        "my attempt",
        "last attempt",
        "suicide attempt",
        "s word",
        "passive si",
        "s h",
        "after im gone",
        "when im gone",
        "ill be gone",
        "gone for good",
        "go for good",
        "not sticking around",
        "taking up space",
        "take up space",
        "go through with it",
        "make it end",
        "out of reasons",
        "shouldnt be left alone",
        "cant be alone tonight",
        "scared of what ill do",
        "what i might do",
        "dont come back from",
        "dont open my eyes",
        "never open my eyes",
        "never have to wake",
        "one last time",
        "picked the date",
        "picked a date",
        "picked tonight",
        "let my heart stop",
        "just swerving",
        "not braking",
        "into a semi",
        "into the ocean",
        "into the lake",
        "into the river",
        "how high does a building",
        "high enough to",
        "liver gives out",
        "liver to fail",
        "dead woman",
        "dead man",
        "feel something",
        "every pill",
        "ill still be here",
        "go on without me",
        "on without me",
        "living isnt worth",
        "a future for myself",
        "no future for me",
        "dont see a future",
        "nobody cares",
        "no one cares",
        "enough for later",
        "if i was dead",
        "if i were dead",
        "something permanent",
        "stupid and permanent",
        "to not exist",
        "not exist",
        "take myself out",
        "would kill me",
        "up on the roof",
        "taking the exit",
        "die from",
        "life insurance",
        "im finished",
        "over the edge",
        "about not being here",
        "grave has room",
        "my grave",
        "none of this is on",
        "did everything right",
        "done pretending",
        "pretending i want to",
        "which method",
        "rat poison",
        "im calm about it now",
        "reason to keep going",
        "reason to go on",
        "letters to my",
        "planning how to",
        "having si",
        "si thoughts",
        "si urges",
        "si is bad",
        "everything to end",
        "done fighting",
        "nothing is worth it",
        "rather be dead",
        "rather die",
        "didnt exist",
        "out for good",
        "go away for good",
        "no one will miss me",
        "nobody will miss me",
        "if i * wasnt here",
        "want out",
        "if i died",
        "like a burden",
        "after tonight anyway",
        "need it after tonight",
        "point of living",
        "goodbye notes",
        "done existing",
        "tired of existing",
        "everything to * end",
        "dying out of my head",
        "if i disappeared",
        "if i vanished",
        "be in the ground",
        "all be over",
        "finish the job",
        "dead inside",
        "like ending it",
        "let myself fall",
        "onto the tracks",
        "ready to be gone",
        "me not wake up",
        "tired of being alive",
    ),
    "es": (
        "suicidio",
        "suicidarme",
        "suicidar",
        "suicida",
        "matarme",
        "me quiero matar",
        "me voy a matar",
        "quiero morir",
        "quiero morirme",
        "me quiero morir",
        "quisiera morirme",
        "quisiera estar muerto",
        "quisiera estar muerta",
        "morirme",
        "me estoy muriendo",
        "me voy a morir",
        "me muero",
        "no quiero vivir",
        "no quiero seguir viviendo",
        "no quiero seguir",
        "ya no puedo seguir",
        "no puedo seguir asi",
        "no quiero estar aqui",
        "no quiero estar vivo",
        "no quiero estar viva",
        "quiero estar muerto",
        "quiero estar muerta",
        "quitarme la vida",
        "acabar con mi vida",
        "terminar con mi vida",
        "acabar con todo",
        "terminar con todo",
        "hacerme dano",
        "lastimarme",
        "herirme",
        "cortarme",
        "me corto",
        "me estoy cortando",
        "me quiero cortar",
        "me voy a cortar",
        # "Me corté" is also a kitchen accident; CARE.md prefers the false alarm.
        "me corte",
        "cortarme las venas",
        "autolesion",
        "autolesionarme",
        "sobredosis",
        "me tome todas las pastillas",
        "tome todas las pastillas",
        "me tome todas mis pastillas",
        "me tome muchas pastillas",
        "tome demasiadas pastillas",
        "me tome todo el frasco",
        "todo el frasco",
        "ya no aguanto",
        "no aguanto mas",
        "ya no puedo mas",
        "no puedo mas",
        "mejor muerto",
        "mejor muerta",
        "no vale la pena vivir",
        "no tengo razon para vivir",
        "no tengo por que vivir",
        "cansado de vivir",
        "cansada de vivir",
        "la vida no vale",
        "quiero desaparecer",
        "desaparecer para siempre",
        "soy una carga",
        "ahorcarme",
        "colgarme",
        "tirarme de un puente",
        "tirarme del puente",
        "aventarme",
        "dispararme",
        "pegarme un tiro",
        "adios para siempre",
        "harta de vivir",
        "harto de vivir",
        "harta de la vida",
        "harto de la vida",
        "cansada de todo",
        "cansado de todo",
        "harta de todo",
        "harto de todo",
        "me canse de todo",
        "ya no quiero nada",
        "no puedo con esta vida",
        "irme de este mundo",
        "ir de este mundo",
        "ir con diosito",
        "irme con diosito",
        "no quiero despertar",
        "dormir y no despertar",
        "ojala no despertar",
        "no volver a despertar",
        "ojala no despierte",
        "mejor sin mi",
        "nadie me extranaria",
        "nadie me va a extranar",
        "sentido a la vida",
        "no tiene sentido vivir",
        "no le encuentro sentido",
        "no le veo sentido",
        "es mi ultimo mensaje",
        "sera mi ultimo mensaje",
        "cartas a mi familia",
        "carta a mi familia",
        "carta de despedida",
        "regalando mis cosas",
        "regale mis cosas",
        "adios a todos",
        "ya no voy a estar aqui",
        "no voy a estar aqui mucho",
        "me pase con las pastillas",
        "me pase de pastillas",
        "tomo todas sus pastillas",
        "pegar un tiro",
        "darme un tiro",
        "tirar del puente",
        "tirar de un puente",
        "tirar del edificio",
        "echar del edificio",
        "estrellar el carro",
        "estrellar mi carro",
        "estrellarme",
        "me hice dano",
        "me lastime",
        "se quiere matar",
        "se va a matar",
        "se quiere suicidar",
        "quiere matarse",
        "va a matarse",
        "se quiere morir",
        "matarse",
        "suicidarse",
        "ahorcarse",
        "cortarse",
        "tirarse",
        "hasta sangrar",
        "me tiro al metro",
        "tirarme al metro",
        "me tiro al",
        "me tiro del",
        "me tiro de",
        "tirarme al",
        "dios que me lleve",
        "dios me lleve",
        "me siento una carga",
        "siento una carga",
        "para que sigo viviendo",
        "para que vivir",
        "para no despertar",
        "ya no quiero estar en este mundo",
        "no quiero estar en este mundo",
        "perdon por todo",
        "no estoy a salvo",
        "no me siento segura conmigo",
        "no me siento seguro conmigo",
        "sin esperanza",
        "mi ultima esperanza",
        "no le veo caso",
        "no le encuentro caso",
        "si yo no estuviera",
        "si no estuviera",
        "ya no despertar",
        "y no despertar",
        "me recoja",
        "perdonenme por todo",
        "con una soga",
        "no aguanto esta vida",
        "no tengo salida",
        "fuerzas para vivir",
        "cansado de luchar",
        "cansada de luchar",
        "me rindo",
        "dormir para siempre",
        "despedir de todos",
        "ya no me van a ver",
        "listo para irme",
        "lista para irme",
        "me muriera",
        "ojala me muera",
        "tomarme todas",
        "me las tomo todas",
        "se acabe mi vida",
        "me atropellara",
        "me atropelle",
        "cuando yo no este",
        "mortal",
        "contra mi misma",
        "contra mi mismo",
        "usarla contra mi",
        "usarlo contra mi",
        "me hice cortadas",
        "cortadas en",
        "hasta que me sangra",
        "veneno",
        "nada tiene caso",
        "todo planeado",
        "compre lo que necesito",
        "para hacerlo tonight",
        "ready para hacerlo",
        "listo para hacerlo",
        "lista para hacerlo",
        "hacerlo sin dolor",
        "estorbo",
        "vivir o morir",
        "en la muerte",
        "pienso en morir",
        "point a seguir",
        "seguir living",
        "ya me despedi",
        "una carta a mi",
        "volvi a cortar",
        "cortar los brazos",
        "volviera a despertar",
        "como un burden",
        "un burden",
        "better sin mi",
        "usarla contra",
        "pensando en usarla",
        "me acabe las pastillas",
        "irme para siempre",
        "vale la pena seguir viviendo",
        "ya no me despierte",
        "no me despierte nunca",
        "me canse de vivir",
        "me hago dano",
        "autolesione",
        "autolesiono",
        "autolesionando",
        "autolesionarse",
    ),
}

# Crisis words that people run into longer tokens ("imsuicidal", "#overdose"); found with a partial
# fuzzy match inside long unknown tokens.
CRISIS_STEMS: tuple[str, ...] = (
    "suicide",
    "suicidal",
    "killmyself",
    "overdose",
    "selfharm",
    "suicidio",
    "suicidarme",
    "sobredosis",
    "matarme",
    "wanttodie",
    "endmylife",
    "hurtmyself",
    "quieromorir",
)

# Crisis words that count when they come close together in one text, in this order, whatever
# words sit between ("took like 30 of my pills", "me kiero matar"), so that every ordering of a
# method need not be listed. Each rule is a language ("any" when both mix), the most words that
# may sit between two steps, and its steps; each step lists the words or runs of words that may
# fill it. "#" fills a step with a count of at least OVERDOSE_COUNT, "#180" with one of at least
# 180, in digits or in words.
NEAR_NUMBER = "#"
OVERDOSE_COUNT = 5
COUNT_WORDS: dict[str, int] = {
    word: count
    for words, count in (
        ("five cinco", 5),
        ("six seis", 6),
        ("seven siete", 7),
        ("eight ocho", 8),
        ("nine nueve", 9),
        ("ten diez", 10),
        ("eleven once", 11),
        ("twelve doce dozen docena", 12),
        ("fifteen quince", 15),
        ("twenty veinte", 20),
        ("thirty treinta", 30),
        ("forty cuarenta", 40),
        ("fifty cincuenta", 50),
        ("hundred cien", 100),
    )
    for word in words.split()
}
NearRule = tuple[str, int, tuple[tuple[str, ...], ...]]
DOSE_UNITS: frozenset[str] = _words("mg mgs milligrams milligram mcg ml units iu g gram grams")


def _runs(text: str) -> tuple[str, ...]:
    """Return the comma-separated words and runs of words in text."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


# Past tense only: "can I take all my meds that morning?" is a question, not a crisis.
_TOOK_EN = _runs("took, taken, swallowed, ate, downed, popped, chugged, overdid")
_TOOK_ES = _runs(
    "tome, trague, tomado, tragado, eche, tomo, empine, acabo de tomar, acabo de tomarme"
)
_MANY_EN = _runs(
    "#, all, al, bunch, handful, whole, entire, lot, lots, many, several, bottle, bottles, rest,"
    " everything, worth, enough, extra, whatever"
)
_MANY_ES = _runs(
    "#, todas, todos, todo, muchas, muchos, monton, chingo, demasiadas, demasiados, entero, entera,"
    " puno, completo, completa,"
    " bote, caja, frasco, resto"
)
_ALL = _runs("all, whole, entire, bunch, handful, rest, everything, todas, todos, todo")
_PILLS_EN = _runs(
    "pills, pill, tablets, tablet, meds, medication, medications, medicine, medicines, bottle,"
    " bottles, prescription, prescriptions, supply, cabinet, painkillers, antidepressants, xanax,"
    " tylenol, ambien, klonopin, valium, ativan, benadryl, advil, ibuprofen, aspirin, oxy,"
    " oxycodone, percocet, vicodin, fentanyl, heroin, lithium, seroquel, trazodone, gabapentin,"
    " insulin, melatonin, lexapro, zoloft, prozac, lamictal, wellbutrin, adderall, sleeping,"
    " unisom, nyquil, zzzquil, pack, percocets, oxys, tylenols, advils, xanaxes, vicodins"
)
_PILLS_ES = _runs(
    "pastillas, pastilla, pastiyas, pastiya, pildoras, pildora, tabletas, capsulas, medicinas,"
    " medicamentos, medicamento, frasco, pomo, xanax, tylenol, clonazepam, alprazolam, rivotril,"
    " insulina"
)
# People mix the two languages ("took todas mis pills"): those rules use both lists.
_TOOK = (*_TOOK_EN, *_TOOK_ES)
_MANY = (*_MANY_EN, *_MANY_ES)
_PILLS = (*_PILLS_EN, *_PILLS_ES)
_ALCOHOL = _runs(
    "alcohol, vodka, wine, beer, liquor, whiskey, tequila, booze, rum, cerveza, vino, licor"
)
_INTEND_EN = _runs(
    "going, want, about, planning, plan, ready, decided, thinking, will, gonna, tempted"
)
_TAKE = _runs("take, takes, taking, swallow, swallowing, tomar, tomarme")
_THEM_ALL = _runs("them all, all of them, it all, the whole bottle, the entire bottle")
_SAVED = _runs(
    "saved, saving, saved up, hoarding, hoarded, stockpiling, stockpiled, collecting, enough,"
    " hidden, hiding, stash, stashed, guardadas, guardando, juntando, ahorrando, escondidas"
)
# First-person intent between "me" and the act: "me quiero matar", not "me puede hacer dano";
# "se" and the third person too: "se quiere ahorcar".
_INTEND_ES = _runs(
    "quiero, kiero, quisiera, queria, voy, estoy, pienso, gustaria, ganas, necesito, deberia,"
    " quiere, va, esta, piensa, vas, quieres, sigo, volvi"
)
_HARM_ES = _runs(
    "matar, suicidar, ahorcar, colgar, aventar, disparar, envenenar, lastimar, lastimando, herir,"
    " hiriendo, cortar, cortando, quitar la vida, hacer dano, haciendo dano, morir, tirar del,"
    " tirar de, tirar por, tirar al, echar del, echar de, tomar todas"
)
_SOMEONE_ES = _runs(
    "hijo, hija, esposo, esposa, mama, papa, hermano, hermana, novio, novia, amigo, amiga, se"
)
# Wanting, wishing or thinking of death, with words between ("i want too die", "think about
# dying every day", "wishes she was dead").
_WISH_EN = _runs(
    "want, wants, wanted, wanting, wish, wishes, wished, wishing, ready, plan, planning, deserve,"
    " think, thinking, thought, thoughts, dream, dreaming, pray, praying, hope, hoping"
)
_DIE = _runs("die, dying, dead, death, morir, muerto, muerta, muerte")
_ON_PURPOSE_EN = _runs(
    "took, cut, burned, burnt, hurt, punched, hit, bled, overdosed, swallowed, crashed, starved,"
    " scratched"
)
_ON_PURPOSE_ES = _runs("hice, lastime, corte, queme, tome, trague, pegue")
# Harming oneself or someone else harming themselves, in any form of the verb.
_HARM_EN = _runs(
    "kill, kills, killing, killed, shoot, shoots, shooting, shot, hang, hangs, hanging, hanged,"
    " hurt, hurts, hurting, harm, harms, harming, harmed, cut, cuts, cutting, off, offing, stab,"
    " stabbing, burn, burning, poison, poisoning, drown, drowning, strangle, strangling, hit,"
    " hitting, starve, starving, end, ending, suffocate, suffocating, yeet"
)
_SELF = _runs("myself, himself, herself, themselves, themself, yourself, ourselves")
_BODY = _runs("wrist, wrists, arm, arms, leg, legs, thigh, thighs, throat, neck, skin, stomach")
_HAVE_EN = _runs(
    "bought, have, has, got, tied, found, ready, tie, buy, loaded, holding, grabbed, hold, load,"
    " keep, keeps, kept, thinking, think, thought, use, pensando, usarla, usarlo"
)
_HAVE_ES = _runs("tengo, tiene, compre, consegui, amarre, agarre, cargue, encontre")
_GUN = _runs("gun, guns, pistol, rifle, shotgun, firearm, revolver, handgun, glock, pistola")
_BLADE = _runs("razor, razors, blade, blades, knife")
_ROPE = _runs("rope, ropes, belt, cord, noose")
_HIGH_PLACE = _runs(
    "bridge, overpass, ledge, roof, railing, tracks, balcony, cliff, pier, dock, deck,"
    " parking garage, puente, azotea, balcon"
)
NEAR_CRISIS: tuple[NearRule, ...] = (
    ("en", 4, (_TOOK_EN, _MANY_EN, _PILLS_EN)),
    ("en", 4, (_TOOK_EN, _PILLS_EN, _MANY_EN)),
    ("es", 4, (_TOOK_ES, _MANY_ES, _PILLS_ES)),
    ("es", 4, (_TOOK_ES, _PILLS_ES, _MANY_ES)),
    ("any", 4, (_TOOK, _MANY, _PILLS)),
    ("any", 4, (_TOOK, _PILLS, _MANY)),
    ("en", 3, (_TAKE, ("#20",), _PILLS)),
    ("en", 5, ((*_TOOK_EN, *_TAKE), ("at once", "all at once", "at the same time"))),
    ("en", 2, (_INTEND_EN, _TAKE, _ALL, (*_PILLS, "them", "it"))),
    ("en", 2, (_INTEND_EN, _TAKE, _THEM_ALL)),
    ("any", 3, (_SAVED, _PILLS)),
    ("any", 3, (_PILLS, _SAVED)),
    ("en", 2, (("how many", "how much"), _PILLS, ("would it take", "it would take", "to die"))),
    ("en", 3, (("how many", "how much"), _PILLS, ("it takes", "does it take", "takes to"))),
    ("en", 3, (("counted out", "counted", "lined up"), (*_ALL, *_PILLS))),
    (
        "en",
        5,
        (
            ("pray", "praying", "hope", "hoping", "wish"),
            ("dont wake up", "never wake up", "not wake up", "dont wake"),
        ),
    ),
    ("en", 3, (_WISH_EN, ("hanging", "jumping", "overdosing", "ending it", "shooting"))),
    ("any", 5, (_PILLS, ("thinking about it", "pensando en eso", "keep thinking"))),
    ("en", 3, (("jumped", "almost jumped"), ("off", "from"), _HIGH_PLACE)),
    ("en", 4, (("mixed", "drank", "drinking"), _PILLS, _ALCOHOL)),
    ("en", 4, (("drank", "drinking", "mixed"), _ALCOHOL, ("took", "with"), _PILLS)),
    ("en", 6, (("locked",), _SELF, _PILLS)),
    ("en", 6, (("tracks",), ("keep", "walking", "at night", "standing", "lie", "lying", "lay"))),
    ("en", 4, (_WISH_EN, _DIE)),
    ("en", 4, (_ON_PURPOSE_EN, ("on purpose",))),
    ("en", 1, (_HARM_EN, _SELF)),
    ("en", 2, (("cut", "cuts", "cutting", "slit", "slashed", "carved", "carving"), _BODY)),
    ("en", 3, (_HAVE_EN, _ROPE)),
    ("en", 3, (_ROPE, ("neck",))),
    ("en", 4, (_ROPE, ("beam", "ceiling", "rafter", "rafters", "closet rod"))),
    ("en", 4, (("beam", "ceiling", "rafter", "rafters"), _ROPE)),
    (
        "en",
        3,
        (
            ("hope", "hoping", "wish"),
            ("bus", "train", "car", "truck"),
            ("doesnt stop", "hits me", "hit me", "runs me over"),
        ),
    ),
    (
        "en",
        3,
        (
            ("how much", "how many"),
            _PILLS,
            ("is too much", "too much", "would kill", "lethal", "to overdose"),
        ),
    ),
    ("en", 3, (("emptied", "washing down", "washed down", "wash down"), (*_PILLS, *_ALCOHOL))),
    ("any", 3, (_PILLS, ("with", "con", "and", "y"), _ALCOHOL)),
    ("en", 3, (_ALCOHOL, ("and",), _PILLS)),
    ("en", 3, (("plan", "plans"), _PILLS)),
    ("en", 5, (_PILLS, ("keep looking", "looking at", "staring at", "keep staring"))),
    ("en", 6, (_HAVE_EN, _GUN)),
    ("en", 6, (_GUN, _HAVE_EN)),
    ("en", 3, (_GUN, _DIE)),
    ("en", 2, (("have", "holding", "got", "bought", "grabbed", "hold"), _BLADE)),
    ("en", 4, (_BLADE, _BODY)),
    ("en", 3, (("standing", "sitting", "climbing", "climbed", "parado", "parada"), _HIGH_PLACE)),
    ("en", 5, (_HIGH_PLACE, ("jump", "jumping", "looking down"))),
    ("en", 3, (("jump", "jumping", "yeet", "throw myself"), ("off", "from"), _HIGH_PLACE)),
    ("en", 3, (("drive", "driving", "drove"), ("off",), _HIGH_PLACE)),
    (
        "en",
        3,
        (
            ("drive", "driving", "crash", "crashing", "steer", "swerve"),
            _runs(
                "into a wall, into a tree, into a pole, off a cliff, into traffic, on purpose,"
                " off a bridge, off the road, my car"
            ),
        ),
    ),
    ("en", 4, (("garage",), ("car", "engine"), ("running", "on"))),
    ("en", 4, (("car", "engine"), ("running",), ("garage",))),
    ("en", 6, (("hose", "exhaust"), ("car", "garage"))),
    ("en", 6, (("car", "garage"), ("hose", "exhaust"))),
    ("en", 5, (("hope", "hoping", "wish", "pray", "praying"), ("accident", "crash", "hit by"))),
    ("en", 7, (("ready", "want", "going", "time"), ("heaven",))),
    (
        "en",
        3,
        (
            ("wont", "not going to", "aint going to"),
            ("be here", "be around", "be alive"),
            ("anyway", "anymore", "much longer"),
        ),
    ),
    ("en", 3, (("wont need",), ("where im going", "where i am going"))),
    ("es", 3, (_SOMEONE_ES, ("tomo", "trago"), _MANY, _PILLS)),
    ("es", 4, (("me", "se"), _INTEND_ES, _HARM_ES)),
    ("es", 2, (("voy", "va", "vas"), ("a tomar", "a tomarme", "a tragar"), _ALL, _PILLS)),
    ("es", 4, (_ON_PURPOSE_ES, ("a proposito",))),
    ("es", 6, (_HAVE_ES, ("soga", "cuerda", "lazo"))),
    ("es", 6, (_HAVE_ES, ("pistola", "arma", "rifle", "escopeta"))),
    ("es", 2, (("corto", "corte", "cortaba", "rajo"), ("los brazos", "las venas", "las munecas"))),
    (
        "es",
        2,
        (
            ("no",),
            ("quiero", "quiere", "kiero", "quieres"),
            ("vivir", "seguir viviendo", "estar en este mundo", "existir", "despertar"),
        ),
    ),
    ("es", 7, (("quiero", "listo", "lista"), ("cielo",))),
    ("es", 4, (_HIGH_PLACE, ("brincar", "saltar", "aventarme", "tirarme", "lanzarme"))),
    ("es", 3, (("pienso", "pensando", "pense"), ("muerte", "morir", "morirme", "matarme"))),
    ("en", 2, (("finished", "emptied"), _ALL, _PILLS)),
    (
        "es",
        3,
        (
            ("esta noche", "hoy", "ahorita"),
            ("me tomo", "me voy a tomar", "tomarme", "me las tomo", "me trago"),
            _PILLS,
        ),
    ),
    (
        "any",
        2,
        (
            ("dont", "no", "doesnt"),
            ("want", "quiero", "quiere"),
            ("seguir viviendo", "vivir", "be alive", "estar vivo", "estar viva"),
        ),
    ),
)
# Medical emergencies in words that come apart ("sudden really bad headache", "chest duele").
NEAR_EMERGENCY: tuple[NearRule, ...] = (
    ("en", 5, (("heart",), ("explode", "exploding"))),
    ("en", 3, (("sudden", "suddenly", "severe", "worst"), ("headache",))),
    ("en", 3, (("head", "headache"), ("like never before", "worst ever"))),
    (
        "en",
        1,
        (("crazy bad", "really bad", "terrible", "horrible", "awful", "pounding"), ("headache",)),
    ),
    ("en", 3, (("chest",), ("duele", "dolor", "crushing", "elephant"))),
    ("en", 6, (("elephant", "weight", "something heavy"), ("chest",))),
    ("en", 2, (("arm", "jaw"), ("numb", "is numb", "went numb"))),
    ("en", 3, (("blood pressure", "bp", "presion"), ("#180-300",))),
    ("en", 5, (("heart rate", "pulse", "heartrate", "hr"), ("#150-300",))),
    ("en", 2, (("blood pressure", "bp"), ("really high", "very high", "too high", "super high"))),
    ("es", 3, (("presion",), ("muy alta", "alta", "altisima"))),
    ("es", 4, (("dolor",), ("pecho",))),
    (
        "en",
        4,
        (
            ("chest",),
            (
                "pressure",
                "squeezed",
                "squeezing",
                "vice",
                "heavy",
                "aches",
                "aching",
                "tight",
                "tightness",
            ),
        ),
    ),
    ("en", 6, (("pressure", "heaviness", "tightness"), ("chest",))),
    ("es", 4, (("presion", "opresion", "dolor"), ("pecho",))),
    ("en", 2, (("#180-300",), ("over", "sobre"), ("#90-200",))),
    ("es", 2, (("#180-300",), ("de presion", "presion"))),
    ("es", 3, (("dolor de cabeza",), ("de repente", "muy fuerte", "horrible"))),
    ("en", 3, (("cant feel", "numb"), ("one side", "left side", "right side", "half of"))),
    ("en", 3, (("face", "mouth"), ("drooping", "droops", "drooped", "droopy"))),
    ("en", 2, (("lips", "lip", "face", "he", "she", "skin"), ("blue", "turning blue", "purple"))),
    (
        "en",
        3,
        (
            ("cant", "can barely", "barely"),
            ("wake him", "wake her", "wake them", "get him up", "get her up", "get them up"),
        ),
    ),
    ("en", 4, (("eyes", "eye", "lips", "tongue", "face"), ("swelling", "swollen", "puffy"))),
    (
        "es",
        3,
        (
            ("se me hincho", "se le hincho", "hinchados", "hinchada", "hinchado"),
            ("lengua", "labios", "cara", "garganta", "ojos"),
        ),
    ),
    (
        "es",
        2,
        (
            ("lengua", "labios", "cara", "garganta", "ojos"),
            ("hinchada", "hinchados", "hinchado", "hinchadas"),
        ),
    ),
)
# Whole messages that are a crisis on their own ("going to jump" inside a text is often not).
CRISIS_WHOLE: Phrases = {
    "en": (
        "i want to dye",
        "want to dye",
        "going to jump",
        "im going to jump",
        "i am going to jump",
        "ready to jump",
        "i want to jump",
    ),
}
# Crisis words written with asterisks ("k*ll", "s*icide"), written out by the crisis check.
MASKED_CRISIS_WORDS: tuple[str, ...] = (
    "kill",
    "killing",
    "suicide",
    "suicidal",
    "die",
    "dead",
    "overdose",
    "unalive",
    "cut",
    "cutting",
    "matar",
    "matarme",
    "morir",
    "suicidio",
    "suicidarme",
)

# Idioms that contain a crisis or emergency phrase but are clearly benign; they are blanked out
# before those checks. Keep this list short: CARE.md prefers a false alarm to a missed crisis.
BENIGN: Phrases = {
    "en": (
        "dying to know",
        "dying to see",
        "dying to try",
        "dying to hear",
        "dying to meet",
        "dying to get",
        "dying to go",
        "dying laughing",
        "dying of laughter",
        "dying of boredom",
        "to die for",
        "killing it",
        "killed it",
        "phone is dying",
        "phone dying",
        "battery is dying",
        "battery dying",
        "cutting back",
        "cutting down",
        "cutting out",
        "cutting it close",
        "cutting my hair",
        "cutting hair",
        "cutting the grass",
        "cutting the lawn",
        "cutting coupons",
        "cutting edge",
        "cut myself shaving",
        "cut myself cooking",
        "die down",
        "dies down",
        "died down",
        "dying down",
        "gun show",
        "gun range",
        "gun safety",
        "lol im dying",
        "im dying lol",
        "lmao im dying",
        "im dying lmao",
        "haha im dying",
        "im dying haha",
        "morning meds",
        "morning medication",
        "morning medications",
        "meds this morning",
        "usual meds",
        "regular meds",
        "daily meds",
        "dying of heat",
        "dying of the heat",
        "dying from the heat",
        "dying of hunger",
        "burned myself on the",
        "burned myself cooking",
        "burnt myself cooking",
        "burnt myself on the",
        "be unconscious",
        # A screen, link or message, not eyesight.
        "cant see why",
        "cant see how",
        "cant see my appointment",
        "cant see the appointment",
        "cant see the link",
        "cant see the message",
        "cant see your message",
        "cant see the time",
        # Not the ride we asked about.
        "driving me crazy",
        "driving me nuts",
        "driving me insane",
        "driving me up the wall",
    ),
    "es": (
        "me muero de ganas",
        "me muero por",
        "me muero de risa",
        "me muero de hambre",
        "me muero de sueno",
        "me muero de frio",
        "me muero de calor",
        "me muero de la verguenza",
        "cortarme el pelo",
        "cortarme el cabello",
        "cortarme las unas",
        "me corto el pelo",
        "me corte el pelo",
        "me corte el cabello",
        "me corte las unas",
        "me corte el dedo",
        "me corte cocinando",
        "cortar el pelo",
        "cortar el cabello",
        "cortar las unas",
        "morir de hambre",
        "morir de risa",
        "morir de sueno",
        "morir de frio",
        "morir de calor",
        "morir de aburrimiento",
        "morir de ganas",
        "matar el tiempo",
        "matar de risa",
        "muriendo de risa",
        "muriendo de hambre",
        "muriendo de sueno",
        "muriendo de calor",
        "muriendo de frio",
        "muriendo de ganas",
        "medicinas de la manana",
        "pastillas de la manana",
        "medicamentos de la manana",
        "cel se va a morir",
        "celular se va a morir",
        "bateria se va a morir",
        "telefono se va a morir",
        "had a heart attack last year",
        "had a heart attack years ago",
        "had a seizure years ago",
        "had a seizure last year",
        "had a stroke last year",
        "had a stroke years ago",
        "all my meds with me",
        "all my pills with me",
        "all my medications with me",
        "had an allergic reaction",
        "history of fainting",
        "history of seizures",
        "kill someone for",
        "would kill for",
        "not dead yet",
        "isnt dead yet",
        "aguanto el hambre",
        "harta de todo el",
        "harto de todo el",
        "ay me muero",
        "me muero de la risa",
        "muero de la risa",
        "no mames me muero",
        "no despertar a",
        "no puedo ver mi cita",
        "no puedo ver el mensaje",
        "no puedo ver el enlace",
    ),
}

# Medical emergencies (CARE.md "Call 911"). A plain "headache" or "blurry vision" is a side effect
# and is left to the SIDE EFFECTS topic; only severe or sudden ones are here.
EMERGENCY: Phrases = {
    "en": (
        "chest pain",
        "chest pains",
        "pain in my chest",
        "chest hurts",
        "chest is hurting",
        "chest is tight",
        "chest tight",
        "chest feels tight",
        "chest feels heavy",
        "chest is heavy",
        "tight chest",
        "chest tightness",
        "chest pressure",
        "pressure in my chest",
        "heart attack",
        "cant breathe",
        "cant breath",
        "couldnt breathe",
        "unable to breathe",
        "trouble breathing",
        "difficulty breathing",
        "hard to breathe",
        "hard to breath",
        "struggling to breathe",
        "short of breath",
        "shortness of breath",
        "not breathing",
        "stopped breathing",
        "cant catch my breath",
        "choking",
        "seizure",
        "seizures",
        "seizing",
        "convulsing",
        "convulsions",
        "fainted",
        "fainting",
        "feel faint",
        "going to faint",
        "about to faint",
        "might faint",
        "feel like fainting",
        "passed out",
        "passing out",
        # Not a bare "pass out": "will I pass out during the infusion?" is a question, not an event.
        "going to pass out",
        "about to pass out",
        "might pass out",
        "could pass out",
        "blacked out",
        "blacking out",
        "unconscious",
        "unresponsive",
        "severe * headache",
        "worst * headache",
        "extreme headache",
        "excruciating headache",
        "unbearable headache",
        "sudden * headache",
        "headache is severe",
        "headache is unbearable",
        "lost my vision",
        "lost vision",
        "losing my vision",
        "loss of vision",
        "vision loss",
        "went blind",
        "going blind",
        "cant see anything",
        "suddenly cant see",
        "cant see out of",
        "throat swelling",
        "throat is swelling",
        "swelling throat",
        "throat swollen",
        "throat is swollen",
        "swollen throat",
        "throat is closing",
        "throat closing",
        "face swelling",
        "face is swelling",
        "swollen face",
        "face is swollen",
        "tongue swelling",
        "swollen tongue",
        "lips swelling",
        "swollen lips",
        "allergic reaction",
        "anaphylaxis",
        "cant wake * up",
        "cant wake him",
        "cant wake her",
        "cant wake them",
        "wont wake up",
        "hard to wake",
        "difficult to wake",
        "not waking up",
        "stroke",
        "face drooping",
        "slurred speech",
        "ambulance",
        "called 911",
        "calling 911",
        "call 911 for me",
        "please call 911",
        "this is an emergency",
        "its an emergency",
        "it is an emergency",
        "medical emergency",
        "having an emergency",
        "isnt breathing",
        "isnt responding",
        "isnt waking up",
        "collapsed",
        "collapsing",
        "and i cant see",
        "cant stop the bleeding",
        "bleeding wont stop",
        "wont stop bleeding",
        "no puedo breathe",
        "cant respirar",
        "drooping",
        "slurring",
        "cant find his words",
        "cant find her words",
        "cant find my words",
        "talking weird",
        "vision went dark",
        "went dark in one eye",
        "lost vision in one eye",
        "one side of my face",
        "one side of his face",
        "one side of her face",
        "turning blue",
        "turned blue",
        "lips are blue",
        "barely breathe",
        "barely breathing",
        "gasping",
        "cant get air",
        "breathing weird",
        "breathing funny",
        "wheezing",
        "hives",
        "swelling shut",
        "throat feels tight",
        "throat is tight",
        "throat tight",
        "sitting on my chest",
        "foaming at the mouth",
        "is jerking",
        "shes jerking",
        "hes jerking",
        "jerking and",
        "shaking uncontrollably",
        "wont respond",
        "not responding",
        "doesnt respond",
        "super drowsy",
        "very confused",
        "really confused",
        "doesnt know where he is",
        "doesnt know where she is",
        "dont know where i am",
        "tongue feels",
        "cant swallow",
        "being crushed",
        "crushing",
        "eyes rolled back",
        "shaking all over",
        "going to black out",
        "about to black out",
        "went black",
        "chest is burning",
        "chest burning",
        "cant stay awake",
        "hallucinating",
        "breathing but barely",
        "hit his head",
        "hit her head",
        "hit my head",
        "not making sense",
        "skipping beats",
        "breathing through a straw",
        "every breath is a fight",
        "harder to swallow",
        "hard to swallow",
        "puffing up",
        "welts",
        "went limp",
        "limp",
        "dropped to the floor",
        "fell over",
        "isnt getting up",
        "wont get up",
        "doesnt open his eyes",
        "doesnt open her eyes",
        "wont open his eyes",
        "wont open her eyes",
        "cant rouse",
        "twitching",
        "had a fit",
        "popped in my head",
        "worst pain ever",
        "neck is stiff",
        "stiff neck",
        "smile is crooked",
        "face is crooked",
        "wont grip",
        "arm is weak",
        "slurred",
        "curtain came down",
        "through the roof",
        "fluttering",
        "all over the place and",
        "how long i was out",
        "woke up on the floor",
        "grayish",
        "gray color",
        "grey color",
        "gurgling",
        "nodding off",
        "cant keep his head up",
        "cant keep her head up",
        "reacting to something",
        "skin is on fire",
        "wheezy",
        "tunneling",
        "hit the floor",
        "shallow breathing",
        "breathing really slow",
        "slow and shallow",
        "catching my breath",
        "throat is getting tight",
        "throat getting tight",
        "heart wont slow down",
        "almost fell",
        "blindness",
        "duele el chest",
        "chest has been hurting",
    ),
    "es": (
        "dolor de pecho",
        "dolor en el pecho",
        "me duele * el pecho",
        "duele el pecho",
        "dolor * en el pecho",
        "presion en el pecho",
        "ataque al corazon",
        "infarto",
        "no puedo respirar",
        "no puede respirar",
        "me cuesta respirar",
        "dificultad para respirar",
        "me falta el aire",
        "falta de aire",
        "me ahogo",
        "convulsion",
        "convulsiones",
        "convulsionando",
        "me desmaye",
        "se desmayo",
        "desmayo",
        "desmayado",
        "desmayada",
        "me voy a desmayar",
        "perdi el conocimiento",
        "perdio el conocimiento",
        "inconsciente",
        "dolor de cabeza muy fuerte",
        "dolor de cabeza fuerte",
        "dolor de cabeza terrible",
        "peor dolor de cabeza",
        "no puedo ver nada",
        "de repente no puedo ver",
        "perdi la vista",
        "no veo nada",
        "se me hincha la garganta",
        "se me esta hinchando la garganta",
        "garganta hinchada",
        "se me cierra la garganta",
        "se me hincha la cara",
        "cara hinchada",
        "lengua hinchada",
        "no puedo despertarlo",
        "no puedo despertarla",
        "no despierta",
        "no reacciona",
        "derrame cerebral",
        "ambulancia",
        "llame al 911",
        # Not "es una emergencia": "que es una emergencia" asks the URGENT topic.
        "esto es una emergencia",
        "tengo una emergencia",
        "emergencia medica",
        "cerrando la garganta",
        "reaccion alergica",
        "me dio un ataque",
        "le dio un ataque",
        "no deja de sangrar",
        "no para de sangrar",
        "no responde",
        "muy confundido",
        "muy confundida",
        "no sabe donde esta",
        "labios morados",
        "se esta poniendo morado",
        "se esta poniendo morada",
        "no puede respirar bien",
        "casi no puedo respirar",
        "casi no puede respirar",
        "ronchas",
        "me pica la garganta",
        "boca morada",
        "lado de la cara",
        "no se puede levantar",
        "como ido",
        "como ida",
        "me cuesta mucho trabajo respirar",
        "cuesta trabajo respirar",
        "no me entra aire",
        "no puedo mover el brazo",
        "no puedo mover la pierna",
        "hablo raro",
        "habla raro",
        "sarpullido",
        "se me estan hinchando",
        "se le estan hinchando",
        "de repente como",
        "cuesta mucho respirar",
        "hinchando la cara",
        "hinchando los labios",
        "hinchando la lengua",
        "hinchando la garganta",
        "no me entra el aire",
        "convulsionar",
        "nublo la vista",
        "le cuesta respirar",
        "pulso muy acelerado",
        "explotar la cabeza",
        "nunca me habia dolido asi",
    ),
}

# Whole messages that are an emergency on their own (a bare "EMERGENCY" errs toward the alarm).
EMERGENCY_WHOLE: Phrases = {
    "any": ("911",),
    "en": ("emergency", "help 911", "i cant see", "cant see"),
    "es": ("emergencia", "no puedo ver"),
}

# Twilio's default keywords (TWILIO.md), matched on the whole message only, any case, with
# surrounding whitespace and ASCII punctuation ignored: Twilio has then already acted on them.
CARRIER_OPT_OUT: frozenset[str] = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
CARRIER_OPT_IN: frozenset[str] = frozenset({"start", "yes", "unstop"})
CARRIER_HELP: frozenset[str] = frozenset({"help", "info"})

# Opt-out in other words (US rules since April 2025), as the whole message. Words that are common
# inside sentences ("para" is "for", "stop" is in "when do I stop eating") only count alone.
# Words that may surround Twilio's STOP and leave it a request to stop ("no thanks, stop"); and
# the opt-out words that mean the same in a crisis text ("STOP I want to die").
OPT_OUT_KEYWORDS: frozenset[str] = frozenset({"stop", "stopall", "unsubscribe", "optout", "alto"})
OPT_OUT_FILLERS: frozenset[str] = _words(
    """
    no nope nah thanks thank you please ok okay now just all it me texting texts messages sir
    gracias por favor ya
    """
)
# Next to STOP these make it a verb about something else ("stop the pain", "make it STOP"), not
# the keyword.
STOP_AS_VERB: frozenset[str] = _words(
    """
    the this that it these those my me feeling thinking hurting crying being pain thoughts make
    let el la los las esto eso este mi me
    """
)

# Opt-out whose words come apart ("stop the appointment texts", "enough with the reminders").
# A text that also says it would miss them is not one ("i dont want to miss any texts").
_TEXTS = _runs(
    "texts, text, texting, messages, message, messaging, reminders, reminder, notifications,"
    " mensajes, mensaje, recordatorios, textos, msgs, sms, these"
)
NEAR_OPT_OUT: tuple[NearRule, ...] = (
    (
        "en",
        3,
        (
            _runs(
                "stop, end, cancel, quit, halt, disable, no more, enough with, done with, shut,"
                " turn off, shut off, switch off, unsubscribe from"
            ),
            _TEXTS,
        ),
    ),
    ("en", 2, (("turn", "shut", "switch"), _TEXTS, ("off",))),
    (
        "en",
        2,
        (
            _runs(
                "rather not, dont want, no longer want, dont need, no longer need, dont wish,"
                " no longer wish"
            ),
            _TEXTS,
        ),
    ),
    (
        "es",
        3,
        (
            _runs(
                "no quiero, ya no quiero, cancelar, cancelo, cancela, quitar, quiten, basta de,"
                " no mas, stop, paren, paren de, dejen de, deja de, no necesito, ya no necesito"
            ),
            _TEXTS,
        ),
    ),
)
OPT_OUT_KEEP: frozenset[str] = _words(
    "miss missing lose losing forget perder perderme fine prefer only"
)

OPT_OUT_WHOLE: Phrases = {
    "any": (*sorted(CARRIER_OPT_OUT), "stop all", "stop stop", "opt out"),
    "en": (
        "please stop",
        "stop please",
        "stop it",
        "stop now",
        "i quit",
        "no more",
        "unsubscribe me",
        "remove me",
        "remove",
        "leave me alone",
        "not interested",
        "no thanks not interested",
        "dont want these",
    ),
    "es": (
        "baja",
        "para",
        "alto",
        "basta",
        "basta ya",
        "cancelar",
        "parar",
        "ya basta",
        "no mas",
        "no me interesa",
        "no estoy interesado",
        "no estoy interesada",
    ),
}

# Opt-out in other words, anywhere in the message.
OPT_OUT: Phrases = {
    "en": (
        "stop texting",
        "stop * texts",
        "stop text",
        "stop messaging",
        "stop * messages",
        "stop message",
        "stop sending",
        "stop contacting",
        "stop * reminders",
        "remove me from",
        "take me off",
        "unsubscribe",
        "unsub",
        "opt me out",
        "opt out of",
        "dont text",
        "dont message",
        "dont contact",
        "dont send me * texts",
        "dont send me * messages",
        "dont send * texts",
        "no more texts",
        "no more text messages",
        "no more messages",
        "no more reminders",
        "cancel * texts",
        "cancel * messages",
        "cancel my subscription",
        "lose my number",
        "no longer want * texts",
        "no longer want * messages",
        "dont want * texts",
        "dont want * messages",
        "dont want * reminders",
        "get off * list",
        "off this list",
        "off your list",
        "wrong number",
        "wrong person",
        "quit texting",
        "quit messaging",
        "quit sending",
        "remove this number",
        "remove my number",
        "delete my number",
        "delete this number",
        "erase my number",
        "no longer want to receive",
        "dont want to receive",
        "no longer wish to receive",
        "dont wish to receive",
        "delete me",
        "remove me please",
        "please remove me",
        "remove her number",
        "remove his number",
        "no need to text",
        "not my number",
        "isnt my number",
        "didnt sign up for this",
        "taken off your",
        "take me off your",
        "no need for texts",
        "no need for the texts",
        "discontinue",
        "cease all",
        "mute me",
        "unenroll me",
        "block me from",
        "blowing up my phone",
        "knock it off with",
        "make them stop",
        "you can stop now",
        "good on the texts",
        "my name off",
        "erase this number",
        "never text",
        "dont ever text",
        "never message",
        "no longer interested",
        "doesnt want texts",
        "doesnt want * texts",
        "doesnt want messages",
        "want to opt out",
        "texts go away",
        "done getting texts",
        "off the reminder list",
        "off the texting list",
        "off your system",
        "not interested in getting",
        "dont need these anymore",
        "please remove it",
        "no manden mas",
        "no me texteen",
        "paren de mandarme",
        "no enviarme mas",
        "den de baja",
        "ya estuvo con los",
        "quitar mi numero",
        "no deseo recibir",
        "en su lista de",
        "no me vuelvan a escribir",
        "cancelen mi",
        "cancelar mi suscripcion",
        "cancelen * mensajes",
        "no manden",
        "sacar mi telefono",
        "sacar mi numero",
        "sin texts",
        "sin mensajes",
        "borren este",
        "borren mi",
        "saquenme del",
        "estar inscrito",
        "estar inscrita",
        "no escriban",
        "no me interesa recibir",
        "parenle",
        "para que me mandan",
        "para que me envian",
    ),
    "es": (
        "no me envien",
        "no me manden",
        "no me escriban",
        "no me mande",
        "no me envie",
        "ya no quiero mensajes",
        "ya no quiero recibir",
        "no quiero recibir",
        "no quiero mas mensajes",
        "no mas mensajes",
        "darme de baja",
        "dar de baja",
        "denme de baja",
        "dame de baja",
        "dejen de enviarme",
        "dejen de mandarme",
        "dejen de escribirme",
        "deja de enviarme",
        "deja de mandarme",
        "eliminenme",
        "borrenme",
        "sacame de la lista",
        "sacarme de la lista",
        "quitenme de la lista",
        "no quiero estos mensajes",
        "no quiero sus mensajes",
        "no quiero tus mensajes",
        "no quiero mensajes",
        "numero equivocado",
        "se equivocaron de numero",
        "cancelar * mensajes",
        "borren mi numero",
        "borrar mi numero",
        "eliminen mi numero",
        "eliminar mi numero",
        "dejen de textearme",
        "deja de textearme",
        "saquenme de",
        "quitenme de",
        "no es mi numero",
        "ya no es mi numero",
    ),
}

OPT_IN_WHOLE: Phrases = {
    "any": tuple(sorted(CARRIER_OPT_IN)),
    "en": ("subscribe", "resubscribe", "opt in", "optin", "start again"),
    # "SI" mirrors Twilio's YES for Spanish speakers; it is not a carrier keyword.
    "es": ("si", "alta", "comenzar", "empezar", "reanudar", "suscribir", "suscribirme"),
}

OPT_IN: Phrases = {
    "en": (
        "start texting",
        "start * texts",
        "start sending",
        "start * messages",
        "resubscribe",
        "re subscribe",
        "opt back in",
        "opt me in",
        "opt in again",
        "sign me up again",
        "text me again",
        "message me again",
        "resume texts",
        "resume messages",
        "subscribe me",
    ),
    "es": (
        "quiero recibir mensajes",
        "volver a recibir",
        "darme de alta",
        "dar de alta",
        "volver a suscribirme",
        "reanudar mensajes",
        "envienme mensajes otra vez",
    ),
}

# Check-in answers (1 very poor .. 5 very well), only while a check-in awaits an answer.
SCORE_WORDS: dict[str, int] = {
    "1": 1,
    "2": 2,
    "3": 3,
    "4": 4,
    "5": 5,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "uno": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
}

# Words that may surround a check-in number and leave it a score ("it's a 3", "5 thanks").
SCORE_FILLERS: frozenset[str] = _words(
    """
    a an i im its it is id say would about around like maybe probably prob guess solid
    feel feeling am at my score rating rate number today thanks thank you ty ok okay
    star stars out of please so um hmm just
    un una es diria como mas o menos tal vez quizas gracias hoy me siento mi puntuacion
    numero estoy en yo le doy
    """
)

# After a leading check-in digit these make it a quantity, not a score ("2 hours before?", "3 pm").
SCORE_UNITS: frozenset[str] = _words(
    """
    am pm oclock h hr hrs hour hours min mins minute minutes day days week weeks month months
    time times pill pills mg ml session sessions more less or to and of x people
    horas hora minutos dias semanas meses veces pastillas sesiones mas menos y o a de
    """
)

# Courtesy words around a whole-message keyword ("NEXT please", "C thanks", "STOP por favor").
POLITE: frozenset[str] = _words(
    """
    please pls thanks thx ty ok okay hi hello hey sorry por favor gracias hola porfavor
    """
)

# Appointment words (INTERFACE.md) checked in this order, so "call me to reschedule" is R.
APPOINTMENT_ORDER: tuple[AppointmentAction, ...] = (
    AppointmentAction.RESCHEDULE,
    AppointmentAction.CALL,
    AppointmentAction.RIDE,
    AppointmentAction.CONFIRM,
    AppointmentAction.NEXT,
)

# Whole-message forms. "C" and "R" only ever count alone; CANCEL and YES never appear: they are
# consent words (TWILIO.md).
APPOINTMENT_WHOLE: dict[AppointmentAction, Phrases] = {
    AppointmentAction.NEXT: {
        "en": ("next", "next one", "appointment", "my appointment", "when"),
        "es": ("proxima", "proximo", "siguiente", "cita", "mi cita", "proxima cita"),
    },
    AppointmentAction.CONFIRM: {
        "any": ("c",),
        "en": (
            "confirm",
            "confirmed",
            "confirming",
            "i confirm",
            "confirm appointment",
            "confirm my appointment",
        ),
        "es": ("confirmo", "confirmar", "confirmado", "confirmada", "confirmo mi cita"),
    },
    AppointmentAction.RESCHEDULE: {
        "any": ("r",),
        "en": ("reschedule", "resched"),
        "es": ("reprogramar", "reagendar", "cambiar", "cambiar cita"),
    },
    AppointmentAction.RIDE: {
        "en": ("ride", "ride confirmed", "driver confirmed", "got a ride"),
        "es": ("tengo conductor", "tengo chofer", "tengo quien me lleve"),
    },
    AppointmentAction.CALL: {
        "en": ("call", "call me", "call back", "callback"),
        "es": ("llamar", "llamada", "llamame", "llamenme", "llameme"),
    },
}

# Anywhere in the message. No "call 911" here: "when should I call 911" is the URGENT topic.
APPOINTMENT: dict[AppointmentAction, Phrases] = {
    AppointmentAction.RESCHEDULE: {
        "en": (
            "reschedule",
            "rescheduling",
            "re schedule",
            "move my appointment",
            "move the appointment",
            "change my appointment",
            "change the appointment",
            "change appointment",
            "different time",
            "different day",
            "another time",
            "another day",
            "cant make it",
            "wont make it",
            "cant come",
            "push back my appointment",
            # Inside a sentence "cancel" is about the visit, not consent (the bare word is
            # Twilio's opt-out): staff get a reschedule request and can cancel it themselves.
            "cancel my appointment",
            "cancel the appointment",
            "cancel my appt",
            "cancel my session",
            "cancel my visit",
            "need to cancel",
            "have to cancel",
            "want to cancel",
            "can i cancel",
        ),
        "es": (
            "cambiar cita",
            "cambiar mi cita",
            "cambiar la cita",
            "mover mi cita",
            "mover la cita",
            "reprogramar",
            "reagendar",
            "otro dia",
            "otra fecha",
            "otra hora",
            "no puedo ir",
            "no voy a poder ir",
            "no podre ir",
            "no puedo asistir",
            "cancelar mi cita",
            "cancelar la cita",
            "necesito cancelar",
        ),
    },
    AppointmentAction.CALL: {
        "en": (
            "call me",
            "call me back",
            "give me a call",
            "can someone call",
            "could someone call",
            "someone call me",
            "can you call",
            "could you call",
            "please call",
            "need a call",
            "call back",
            "talk to someone",
            "speak to someone",
            "speak with someone",
            "talk to a person",
            "talk to a real person",
            "talk to a nurse",
            "speak to a nurse",
            "talk to the doctor",
        ),
        "es": (
            "llamenme",
            "llamame",
            "llameme",
            "me pueden llamar",
            "me puede llamar",
            "me puedes llamar",
            "pueden llamarme",
            "puede llamarme",
            "quiero hablar con alguien",
            "necesito hablar con alguien",
            "hablar con una persona",
            "hablar con la enfermera",
        ),
    },
    AppointmentAction.RIDE: {
        "en": (
            "have a ride",
            "got a ride",
            "have a driver",
            "got a driver",
            "my driver is confirmed",
            "driver is confirmed",
            "ride is confirmed",
            "ride is set",
            "driver is set",
            "have someone to drive me",
            "someone is driving me",
            "someone will drive me",
            "is driving me",
            "will drive me home",
            "is picking me up",
        ),
        "es": (
            "tengo quien me lleve",
            "tengo quien me recoja",
            "tengo conductor",
            "tengo chofer",
            "tengo transporte",
            "me va a llevar",
            "me lleva",
            "me recoge",
        ),
    },
    AppointmentAction.CONFIRM: {
        "en": (
            "i confirm",
            "ill be there",
            "i will be there",
            "confirming my appointment",
        ),
        "es": ("confirmo", "ahi estare", "alli estare", "si voy a ir", "si asistire"),
    },
    AppointmentAction.NEXT: {
        "en": (
            "next appointment",
            "next session",
            "next visit",
            "next treatment",
            "next infusion",
            "when is my appointment",
            "when is my session",
            "when is my next",
            "what time is my appointment",
            "what day is my appointment",
            "my appointment time",
            "appointment time",
            "do i have an appointment",
            "when am i scheduled",
            "when do i come in",
        ),
        "es": (
            "proxima cita",
            "proxima sesion",
            "cuando es mi cita",
            "cuando es mi proxima",
            "a que hora es mi cita",
            "que dia es mi cita",
            "tengo cita",
        ),
    },
}

# A negation just before an R, CALL, RIDE or C phrase turns it around ("I don't have a ride").
NEGATIONS: frozenset[str] = frozenset(
    {"dont", "not", "no", "never", "cant", "havent", "wont", "didnt", "doesnt", "nunca", "sin"}
)

# Just before an opt-out phrase these turn it around ("please don't stop the reminders"); Spanish
# "no" only before a Spanish phrase, since "no, stop texting me" is a refusal.
OPT_OUT_NEGATIONS: frozenset[str] = frozenset({"dont", "never", "nunca"})
OPT_OUT_NEGATIONS_ES: frozenset[str] = frozenset({"no"})

# Whole messages that say nothing about the language: carrier keywords, C, R, MENU.
# The Spanish menu teaches NEXT, RIDE and CALL too, so those alone keep the patient's language.
UNIVERSAL: frozenset[str] = frozenset(
    CARRIER_OPT_OUT
    | CARRIER_OPT_IN
    | CARRIER_HELP
    | {"menu", "c", "r", "ok", "okay", "911", "next", "ride", "call"}
)

# Words only one of the two languages uses; shared ones ("a", "me", "no") are left out.
LANGUAGE_MARKERS: dict[str, frozenset[str]] = {
    "en": _words(
        """
        i im its my the is are what when where how why who can you your do does dont cant to and of
        have need want please after before with should will it this that be am was feel just
        thanks thank hi hello an for on at in if am been about get got one two three four five
        eat drive sick would could there they we our any some really today feeling very not but
        like know going good great late sorry running
        """
    ),
    "es": _words(
        """
        quiero puedo tengo necesito estoy esta estan siento cuando donde como que cuanto cuantas
        cuantos despues antes mas muy pero porque por para gracias hola buenos buenas dias tardes
        noches usted ustedes cita manana hoy ayer hacer favor mis mi tu su yo nos una los las el
        la del al lo le se ya bien mal dolor pastillas todo todas nada es son de en con tambien
        debo hora uno dos tres cuatro cinco si sesion sesiones
        """
    ),
}

# Function and generic words: they weigh little when scoring topic phrasings, so "i" and "can"
# never decide between topics.
TOPIC_STOPWORDS: frozenset[str] = _words(
    """
    i me my a an the is it its to do does did can could should would will what when where how who
    why this that be am are was of in on at for with about and or you your we our they need want
    have has get go going feel feeling time long many much come there any some im so if just
    call help
    que es este esta el la los las de del a al mi me se un una y o con por para puedo como cuando
    cuanto cuantas cuantos cada hora debo tomar siento hace necesito tengo seguro segura quien
    back good better day today tomorrow take make know think still really home getting these
    someone something goes thing hour hours minutes more
    """
)

# Real words one typo away from a vocabulary word. They are never spell-corrected, so "woke" does
# not become "wake" ("I never woke up" is not "never wake up") and "diet" does not become "die".
COMMON_WORDS: frozenset[str] = _words(
    """
    depression depressed copd inhaler asthma anxiety ptsd bipolar
    a about above after again against all ally almost alone along already also always am among
    an and another any anyone anything are area around as ask asked at attach auto away back bad
    bake bank barn be because been before being below bench best better between big bill bind
    bit bitter blend blink blocked blond body book bore both bride bring bury but butter buy by
    cake calm came can canceled cancelled cancer car card care cars cart case cast cat cell cent
    chances channel chant cheat chess city class clear close coin cold come cone confined
    conform cool corn could cult cute dad day days deaf deal dean dear deed dent dice did died
    dies diet dime dine dire do doctor does doing done door dope dot dove down doze dread dried
    drone drove drying during dyeing each early easy eating either else end enough even ever
    every exit eye faced faces fact fade fake fall fame family far fare fast fate father fee
    feed feel fees feet fell felt few fill find fine fire first fist five fold font food fool
    foot for ford fork form fort found four free friend from frost fuel full game gave get girl
    give go god going good got great group had hair half ham hand happy hard has have he head
    heal heap heard hearts heat held hell hemp her herb herd here hero hers high him hire his
    hold home hope hot hour hours house how hung hunt hunting hut idea if in into is it its job
    just keen keep kid kilo kind knew know last late later least left less let lie lies life
    lift like liking lime line lining list little live long look loot lost lot lots love loving
    made major make man many mask mass may me mean media men might mind mine miss mom money more
    most mother move much must my name near neat need nest never new newer news next nice night
    no none nor not note nothing noting now numb of off often oh ok okay old on once one only
    open or order other our out over overdo overdoes overdoing overdone own paid pail paint pair
    pairs pan pans pant park part pass past pawn pay pear peer pen people person pick pins place
    plain plan play point polls poor pork port pour print pulls put putting quiet quilt quite
    quiz rain rather rato razor reached reaches read reads real really red remote removed
    rescued resolve rest rice rid rider rides right rise room root rude run said same save saw
    say school see seem seen sell selling send set she shelf shirt shop shore short shot should
    shout show side since sit sizing sleep slip small smart smelling so some son soon sort
    spelling split sport spot stare started stay step stepped still stomp stop story stow strike
    such suit sure take tale talk talking tape team tell test tests than thank that the their
    them then there these they thin thing think thinks this those though thought threat three
    through thus tied till time tire to today toe told tone too took tool top tore town tried
    try turn two under until up upon us use used value very via visa wage waist wait waiting
    walk walking wall want war warm wars was wash watch water wave way we weak wear week weeks
    well went were wet what when where which while who whole why wife will wind wired with woke
    word wore work world would write year yes yet you young your
    ahora algo alguien algun alla alli ano anos antes aqui asi aun bajo bien buena bueno cada
    cama caminar caro carta casa cierre cierta cierto cinta citar clara comen comer comprar
    comprarme confiar conforme contar contarme cortar corte corto cosa cual cuenta cuidado cura
    dar dato decir dia dice dijo dolar donde ella ellos emplear entonces era eres esa ese eso
    esos esperar esta este esto estos estoy falla flor fresco fue fuente gente gusta hacer hasta
    hay hija hijo hola hombre hora hoy igual llamado llega llegue llevo luego mama mano mas masa
    medico mejor menor menos mes mientras mismo momento mucha mucho muro muy nada nadar nadie ni
    noche nos nosotros nota nuestro nunca otra otro padre paga pagar papa parte pasa pasar paso
    pata pera pero poco por porque propina puede pues quieto rata ratos sabe saber seguir ser
    sera sido siempre sin sobre solo son su sus tal tambien tan tanto te tener tenso tiempo tio
    tipo toda todo todos tomo tono trabajo tu una uno usted vamos veces ver vez vida visto voy
    ya
    """
)
