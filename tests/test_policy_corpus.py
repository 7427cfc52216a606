"""The default policy on varied slip-ups and clean look-alikes, and on evasions of them.

Examples per category, in English and French, written for the class rather
than for the current rules: each slip-up must fire its category, each clean
look-alike (same words, harmless meaning) must fire nothing. Every slip-up is
also sent disguised (`EVASIONS`: zero-width characters and soft hyphens inside
words, Cyrillic look-alike letters, fullwidth letters, l33t digits).

`split` puts each example in the "tune" or "held_out" half by a hash of its
text, so that no one chooses; `docs/slipups.md` gives the recall and false
alarms of each half.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from hashlib import blake2b

import pytest

from pipeline.policy import Policy

POLICY = Policy.load()

SLIPUPS: dict[str, list[str]] = {
    "confidential_leak": [
        "Can't say much but the internal roadmap shows a huge launch in May",
        "Between us, the reorg will be announced next week",
        "Sneak peek of our unreleased app, please keep this to yourselves",
        "Leaked slides from today's board meeting, don't tell anyone I posted this",
        "Our internal memo says layoffs are coming, not public yet",
        "This deck is for internal use only but it's too good not to share",
        "Under NDA so I shouldn't post this, but look at the new prototype",
        "Here's a screenshot of our confidential pricing for 2027",
        "Not supposed to share this yet: we're opening an office in Tokyo",
        "Project Falcon beta numbers look insane (internal only)",
        "Off the record: the CEO is stepping down in June",
        "Top secret: our next product is a smart ring",
        "Entre nous, la réorganisation sera annoncée la semaine prochaine",
        "Petite fuite de la note interne : le siège déménage à Lille",
        "Document strictement confidentiel, mais je vous montre quand même",
        "Je ne devrais pas le dire mais on lance un nouveau produit en mai",
        "Ne le répétez pas : le directeur général quitte l’entreprise",
        "Voici notre feuille de route interne pour 2027, chut !",
        "Capture de la présentation du comité de direction, à ne pas diffuser",
        "Sous NDA, mais voici le prototype en avant-première",
        "Info pas encore officielle : on ferme l'usine de Nantes",
        "Le Project Falcon est en retard, c'est confidentiel",
        "Les slides internes du séminaire, ne partagez pas svp",
        "Top secret : notre prochaine appli sortira en juin",
    ],
    "financial_disclosure": [
        "Heads up: our Q2 earnings will crush expectations, announcement on Friday",
        "Revenue this quarter is up 40%, before the official release",
        "We're about to acquire a startup in Berlin, deal signed next week, keep it quiet",
        "Numbers before the earnings call: record profit",
        "Buy our stock now before the results come out",
        "Insider tip: our share price is going to jump after the merger news",
        "Sales will miss the forecast badly this quarter, brace yourselves",
        "We're in secret talks to merge with Contoso",
        "Our Q4 results will beat the consensus by a mile",
        "Profit margins doubled this quarter, the market doesn't know yet",
        "The acquisition of Rivalcorp isn't announced yet but it's done",
        "Guidance will be cut next week, sell now",
        "Nos résultats du T3 vont exploser les attentes, annonce vendredi",
        "Le chiffre d'affaires du trimestre est en hausse de 30 %, pas encore publié",
        "On rachète Contoso, l'annonce n'est pas encore faite",
        "Achetez nos actions avant la publication des résultats",
        "Fusion secrète en cours avec un concurrent, ne dites rien",
        "Les ventes vont rater les objectifs ce trimestre",
        "Tuyau d'initié : l'action va grimper après l'annonce",
        "Notre bénéfice a doublé au T2, avant l'annonce officielle",
        "Les comptes du semestre sont catastrophiques, les marchés ne le savent pas encore",
        "Le rachat d'une startup lyonnaise sera signé la semaine prochaine, chut",
        "Nos prévisions de chiffre d'affaires seront revues à la baisse avant l'assemblée",
        "Vendez vos actions avant les résultats, ça va chuter",
    ],
    "profanity_insult": [
        "The client is a complete moron",
        "What a bunch of clowns in accounting",
        "This stupid tool crashed again",
        "Shut up and ship it, idiots",
        "F*ck this deadline",
        "Our vendor is a total jackass",
        "This meeting was pure bullsh1t",
        "What the hell were they thinking, dumbasses",
        "Honestly the new manager is a useless prick",
        "Damn, this release is a shitshow",
        "Customers who can't read are pathetic losers",
        "Screw you, support team",
        "Ce client est un vrai abruti",
        "Bande de nuls au service achat",
        "Quelle bande de crétins",
        "Cette réunion était nulle à chier",
        "Ferme ta gueule et code",
        "Ce fournisseur est un pauvre con",
        "Putain, encore un bug en prod",
        "Mon manager est une vraie tête de con",
        "Ces clients sont vraiment cons",
        "C'est de la merde, ce logiciel",
        "Quel enfoiré ce commercial",
        "Ces incapables du support m'énervent",
    ],
    "competitor_attack": [
        "Rivalcorp's support is a joke",
        "Never trust Contoso, they lie to their customers",
        "Contoso engineers are clueless amateurs",
        "Switching to Rivalcorp? Enjoy the constant outages, lol",
        "Rivalcorp is going bankrupt, everyone knows it",
        "Contoso's new product is a cheap copy of ours, total ripoff",
        "Stay away from Rivalcorp, worst service ever",
        "Contoso steals customer data, avoid them",
        "Rivalcorp's CEO is a fraud",
        "Our competitors sell overpriced junk",
        "Contoso is a dumpster fire",
        "Rivalcorp quality is terrible and their sales reps are liars",
        "Le support de Rivalcorp, c'est une blague",
        "Contoso ment à ses clients, fuyez",
        "Rivalcorp va couler, tout le monde le sait",
        "Les ingénieurs de Contoso sont des incompétents",
        "Contoso a copié notre produit, bande de voleurs",
        "Le produit de Rivalcorp est une vraie catastrophe",
        "N'achetez jamais chez Contoso, c'est de l'arnaque",
        "Rivalcorp est minable et hors de prix",
        "Nos concurrents vendent de la camelote",
        "Contoso, c'est du bricolage d'amateurs",
        "Rivalcorp : service client lamentable, à éviter",
        "Chez Contoso ce sont des escrocs",
    ],
    "personal_data": [
        "Reach me directly at mark.taylor@example.com",
        "Call the customer back on +44 20 7946 0958",
        "Her mobile is 07700 900123",
        "Card on file: 4111 1111 1111 1111",
        "Send the refund to GB82 WEST 1234 5698 7654 32",
        "email: anna [at] example [dot] org",
        "Text me at 415-555-0132",
        "Customer's Amex 3782 822463 10005 was declined",
        "Contact john.doe@company.co.uk for the file",
        "My number +1 (415) 555-0132, call anytime",
        "Payment via BE68 5390 0754 7034 please",
        "The client's card 5105-1051-0510-5100 expired",
        "Contactez Julie au 06 98 76 54 32",
        "Mon mail perso : paul.martin@exemple.fr",
        "Le RIB du client : FR76 3000 6000 0112 3456 7890 189",
        "Appelez le 01.42.68.53.00 pour le dossier",
        "Carte bancaire du client : 4012 8888 8888 1881",
        "Écrivez à claire.dubois (at) exemple.fr",
        "Son portable : +33 7 81 23 45 67",
        "Virement sur DE44 5001 0517 5407 3249 31",
        "Numéro du client : 0033 6 12 34 56 78",
        "Joignez-moi sur sophie.leroy@entreprise.fr ou au 07 12 34 56 78",
        "IBAN du fournisseur ES91 2100 0418 4502 0005 1332",
        "Le client m'a donné sa carte 5555 5555 5555 4444 par téléphone",
    ],
    "legal_risk": [
        "Invest now: 15% returns guaranteed, zero risk",
        "Our fund can't lose, you'll double your money",
        "If Contoso copies us again our lawyers will destroy them in court",
        "We're going to sue the pants off that blogger",
        "Skipping the GDPR consent step, nobody checks anyway",
        "Technically it's against the law but who cares",
        "Risk-free investment with guaranteed profits of 10% a year",
        "We'll see them in court, mark my words",
        "Let's just bypass the export regulations, no one will notice",
        "Our lawyers are preparing a lawsuit against that reviewer",
        "Guaranteed 20% yield on our new savings plan",
        "Yes we dumped the waste illegally, but it saved a fortune",
        "Placement garanti sans risque : 12 % par an",
        "On va les traîner en justice, ils vont le regretter",
        "C'est pas très légal mais personne ne vérifie",
        "Nos avocats vont attaquer ce journaliste",
        "Doublez votre capital en six mois, c'est garanti",
        "On contourne le RGPD, ni vu ni connu",
        "Je vais porter plainte contre ce client",
        "Rendement assuré de 8 %, aucun risque de perte",
        "C'est interdit par la loi, mais on le fait quand même",
        "On se verra au tribunal",
        "Ce produit financier vous garantit des gains élevés",
        "Menace de procès : on va les poursuivre en justice",
    ],
}

CLEAN: dict[str, list[str]] = {
    "confidential_leak": [
        "We take the confidentiality of your data seriously",
        "Our internal hackathon produced 40 great ideas",
        "Proud to share our public roadmap for 2026",
        "Don't forget to share your feedback in the survey",
        "Sharing our secret to great onboarding: listen first",
        "Internal mobility helped me grow from support to engineering",
        "Secret Santa at the office was a blast",
        "The results of our public beta are now online",
        "Leaking pipes? Our facilities team fixed them in an hour",
        "Between us and our customers, trust comes first",
        "Big announcement: our new office in Tokyo is officially open!",
        "La confidentialité de vos données est notre priorité",
        "Notre hackathon interne a réuni 200 personnes",
        "Entre nous et nos clients, la confiance est essentielle",
        "Découvrez le secret d'une bonne documentation",
        "Merci de partager cette offre d'emploi autour de vous",
        "Notre feuille de route publique est en ligne",
        "L'annonce officielle de notre nouveau bureau est faite !",
        "Formation interne sur la sécurité ce jeudi",
        "Le secret professionnel des avocats expliqué simplement",
    ],
    "financial_disclosure": [
        "Our Q3 results are published: read the report on our investor site",
        "Join our earnings call on Tuesday at 5pm",
        "We're proud to announce the acquisition of DataCo, completed today",
        "Customer acquisition tips from our marketing team",
        "Talent acquisition is hiring recruiters in Paris",
        "The results of our hackathon are in: team Blue wins",
        "Our sales team beat their step-count challenge this month",
        "Learn about stock options in our benefits webinar",
        "Record attendance at our annual conference",
        "Our revenue operations team is hiring",
        "The merger of our two design teams went smoothly",
        "Read our annual report, published this morning",
        "Nos résultats annuels sont publiés sur notre site investisseurs",
        "Rendez-vous à notre assemblée générale le 12 juin",
        "Nous annonçons officiellement l'acquisition de DataCo",
        "Les ventes de gâteaux au profit de l'association ont battu des records",
        "Atelier sur l'acquisition de nouveaux clients jeudi",
        "Le chiffre d'affaires 2025 a été publié ce matin",
        "Notre équipe finance recrute un contrôleur de gestion",
        "Les résultats du sondage interne sont encourageants",
    ],
    "profanity_insult": [
        "Scunthorpe United fans visited our stand",
        "Our class on assessment design is full",
        "Cocktail hour after the conference",
        "We assume nothing and test everything",
        "Happy hour at the Dickens pub in Sussex",
        "Idiomatic Python tips for beginners",
        "Shiitake mushrooms on the canteen menu today",
        "Pass the baton: new team lead announced",
        "Our analyst team loves spreadsheets",
        "Don't be shy, ask questions at the Q&A",
        "A hell of a good week at the summit",
        "Comic Con was amazing this year",
        "Le concours de cuisine a réuni 30 équipes",
        "Connexion rapide au nouveau portail",
        "Nos bénévoles ont nettoyé la plage",
        "Un grand merci à Conrad pour son accueil",
        "Les consultants ont présenté leur étude",
        "Rencontre avec des étudiants de l'école de commerce",
        "Le salon du bricolage ouvre ce week-end",
        "Découvrez notre nouvelle salle de sport",
    ],
    "competitor_attack": [
        "Congrats to Rivalcorp on their funding round",
        "Great panel with Contoso and Rivalcorp on open standards",
        "We compete with Contoso on quality, not price",
        "Rivalcorp's keynote on accessibility was inspiring",
        "Our beach cleanup collected 200 kg of trash with volunteers from Contoso",
        "Former Contoso engineers joined our team this month",
        "Rivalcorp and we agree: the standard needs work",
        "Healthy competition makes everyone better",
        "We lost a deal to Rivalcorp, lessons learned",
        "Contoso's worst-case analysis paper is a great read",
        "Meet the Contoso team at booth 12",
        "Comparing us with Rivalcorp? Here is an honest feature table",
        "Bravo à Rivalcorp pour leur levée de fonds",
        "Table ronde avec Contoso sur l'accessibilité",
        "Nous avons perdu un appel d'offres face à Rivalcorp, on apprend",
        "Ancienne de Contoso, elle rejoint notre équipe",
        "La concurrence saine nous pousse à progresser",
        "Rivalcorp et nous partageons la même passion pour l'open source",
        "Contoso a publié un livre blanc intéressant",
        "Rencontre avec les équipes de Rivalcorp au salon",
    ],
    "personal_data": [
        "Version 3.14.15 released today",
        "Our office is at 221 Baker Street",
        "Order #1234 5678 9012 3456 has shipped",
        "Meet us at example.com/events",
        "Call for papers: deadline 2026-03-15 at 23:59",
        "We raised 12 500 000 euros",
        "Follow @chorus on social media",
        "Room 1204, building 3, 10:30 am",
        "Tracking number 1Z 999 AA1 01 2345 6784",
        "ISBN 978-2-07-036822-8",
        "Press contact: press@chorus-demo.example",
        "Reach our team through the form on our website",
        "Rendez-vous le 12/03/2026 à 14h30, salle 204",
        "Nous avons planté 12 000 arbres en 2025",
        "Numéro de commande 2026-000123-45",
        "Notre standard : +33 1 23 45 67 89",
        "Le SIRET de l'association : 123 456 789 00012",
        "Écrivez-nous via le formulaire de contact",
        "Version 2.0.1 disponible",
        "Le code promo BIENVENUE2026 est valable jusqu'au 31/12",
    ],
    "legal_risk": [
        "Satisfaction guaranteed or your money back on all workshop tickets",
        "Our legal team won an award for pro bono work",
        "Learn how GDPR compliance protects your customers",
        "The tennis court is open for employees",
        "Guaranteed free returns within 30 days",
        "Court-side seats for our sales winners",
        "Our lawyers reviewed the contract template, it's ready",
        "A risk-free trial for 30 days",
        "Illegal parking in front of the office will be towed",
        "Sue from accounting will present the budget",
        "Guaranteed delivery within 24 hours",
        "Interest rates explained in our finance webinar",
        "Satisfait ou remboursé sur toutes nos formations",
        "Notre service juridique recrute un juriste",
        "Livraison garantie en 48 h",
        "Le tribunal de commerce de Lyon organise une conférence",
        "Nous allons poursuivre nos efforts pour l'environnement",
        "Conformité RGPD : nos bonnes pratiques",
        "Un rendement énergétique amélioré de 20 % grâce aux panneaux solaires",
        "Plainte d'un client traitée en 24 h par notre service qualité",
    ],
}


def split(text: str) -> str:
    """The half of an example, "tune" or "held_out", by a hash of its text: nobody picks."""
    return "tune" if blake2b(text.encode()).digest()[0] % 2 == 0 else "held_out"


_WORD = re.compile(r"[^\W\d_]{4,}")
_CYRILLIC = str.maketrans("aceopxyiACEOPXYHKMT", "асеорхуіАСЕОРХУНКМТ")
_LEET = str.maketrans("aeiost", "431057")


def _inside_words(insert: str) -> Callable[[str], str]:
    """`insert` after the second letter of every word of four letters or more."""
    return lambda text: _WORD.sub(lambda m: m.group()[:2] + insert + m.group()[2:], text)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


EVASIONS: dict[str, Callable[[str], str]] = {
    "zero_width_space": _inside_words("\u200b"),
    "zero_width_joiner": _inside_words("\u200d"),
    "soft_hyphen": _inside_words("\u00ad"),
    "cyrillic": lambda text: text.translate(_CYRILLIC),
    "fullwidth": _fullwidth,
    "leet": lambda text: _WORD.sub(lambda m: m.group().translate(_LEET), text),
}
# Digits stand for themselves in personal data: l33t has no meaning there.
NOT_FOR = {"leet": {"personal_data"}}


def categories(text: str) -> set[str]:
    return {match.category for match in POLICY.check(text)}


@pytest.mark.parametrize(
    ("category", "text"), [(c, t) for c, texts in SLIPUPS.items() for t in texts]
)
def test_slipups_fire_their_category(category: str, text: str) -> None:
    assert category in categories(text)


@pytest.mark.parametrize("text", [t for texts in CLEAN.values() for t in texts])
def test_clean_look_alikes_fire_nothing(text: str) -> None:
    assert POLICY.check(text) == []


@pytest.mark.parametrize(
    ("category", "evasion"),
    [(c, e) for c in sorted(SLIPUPS) for e in sorted(EVASIONS) if c not in NOT_FOR.get(e, ())],
)
def test_evasions_still_fire(category: str, evasion: str) -> None:
    missed = [
        disguised
        for text in SLIPUPS[category]
        if category not in categories(disguised := EVASIONS[evasion](text))
    ]
    assert missed == []


@pytest.mark.parametrize("evasion", sorted(EVASIONS))
def test_evasions_of_clean_posts_stay_clean(evasion: str) -> None:
    texts = [t for c, texts in CLEAN.items() for t in texts if c not in NOT_FOR.get(evasion, ())]
    assert [t for t in texts if POLICY.check(EVASIONS[evasion](t))] == []


def test_both_halves_have_every_category() -> None:
    for examples in (SLIPUPS, CLEAN):
        for texts in examples.values():
            assert {split(t) for t in texts} == {"tune", "held_out"}
