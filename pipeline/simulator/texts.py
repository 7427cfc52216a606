"""What simulated employees write: clean posts and slip-ups per category and language.

The policy benchmark and tests reuse these templates, so they are data, not code.
"""

from __future__ import annotations

HASHTAGS = ("#teamwork", "#innovation", "#hiring", "#community", "#proud", "#tech")

SLIPUP_TEMPLATES: dict[str, dict[str, list[str]]] = {
    "confidential_leak": {
        "en": [
            "Sneak peek at Project Falcon, still confidential so keep it quiet!",
            "Internal only: the reorg slides ended up in my feed, do not share.",
            "The Project Nightjar roadmap is confidential but honestly it is huge.",
            "Here is our internal only pricing sheet for next year, do not share please.",
            "Confidential: we are closing the Lyon office in March.",
        ],
        "fr": [
            "Petit aperçu du Project Falcon, c'est confidentiel mais trop beau pour se taire !",
            "Document à usage interne : la nouvelle grille tarifaire, ne pas diffuser.",
            "Info confidentielle : on ferme le site de Lyon en mars.",
            "Ne pas diffuser : le planning du Project Nightjar est enfin validé.",
        ],
    },
    "financial_disclosure": {
        "en": [
            "Between us, our Q3 revenue will beat every analyst estimate.",
            "The numbers are in before the earnings call and they look amazing.",
            "Big news: we are about to close an unannounced acquisition in Berlin.",
            "Our Q3 revenue will beat the guidance by 15%, buy the stock now.",
        ],
        "fr": [
            "Le chiffre d'affaires du trimestre dépasse toutes les prévisions, ce n'est pas encore public.",
            "Avant l'annonce des résultats, je peux vous dire que ça va être énorme.",
            "Une acquisition non annoncée est en cours, on rachète un concurrent.",
        ],
    },
    "profanity_insult": {
        "en": [
            "Our stupid customers still can't read the manual, what a bunch of idiots.",
            "This release process is total crap.",
            "What a load of bullshit from the board today.",
            "Only an idiot would still use the old version.",
        ],
        "fr": [
            "Encore une réunion de merde ce matin.",
            "Le client de ce matin était un vrai connard.",
            "Cette nouvelle procédure est complètement débile.",
        ],
    },
    "competitor_attack": {
        "en": [
            "Rivalcorp sells garbage, everyone knows it.",
            "Contoso is a scam, don't fall for it.",
            "Switching from Rivalcorp? Good call, their product is garbage.",
            "The new Contoso platform is a total scam.",
        ],
        "fr": [
            "Rivalcorp, c'est une arnaque, fuyez.",
            "Le produit de Contoso est vraiment nul.",
            "Contoso vend du vent, une vraie arnaque.",
        ],
    },
    "personal_data": {
        "en": [
            "Need help with your order? Email me at jane.doe@example.com or call +33 6 12 34 56 78.",
            "A customer asked to pay with card 4539 1488 0343 6467, can someone process it?",
            "Refund sent to IBAN FR14 2004 1010 0505 0001 3M02 606, tell me when it arrives.",
            "Call our client John at (555) 123-4567, he is waiting.",
            "My direct line is (555) 123-4567 and my mail is john.smith@example.org.",
        ],
        "fr": [
            "Écrivez-moi directement à marie.dupont@example.fr ou au +33 6 12 34 56 78.",
            "Le client a payé avec la carte 5555 5555 5555 4444, quelqu'un peut vérifier ?",
            "Virement envoyé sur l'IBAN FR14 2004 1010 0505 0001 3M02 606.",
            "Remboursement fait sur le compte DE89 3704 0044 0532 0130 00, merci de confirmer.",
        ],
    },
    "legal_risk": {
        "en": [
            "Invest with us: guaranteed returns of 20% a year.",
            "If they copy our design again, we will sue them into the ground.",
            "This is illegal but nobody checks, so we ship it anyway.",
            "Our new fund offers guaranteed returns with no risk at all.",
        ],
        "fr": [
            "Placement à rendement garanti de 15 % par an, foncez.",
            "Je sais que c'est illégal mais personne ne vérifie.",
            "S'ils recommencent, nous allons porter plainte, c'est illégal.",
        ],
    },
}
SLIPUP_CATEGORIES = tuple(SLIPUP_TEMPLATES)

# What the policy gets wrong, so that a review has something to find. False
# alarms are harmless posts on which exactly the rule named fires (a quote of
# a competitor's own ad, results already published, security advice);
# missed slip-ups are real ones phrased so that no rule fires. Both are checked
# against the default policy, alone and after every clean sentence
# (tests/test_simulate.py), and are edited with it.
FALSE_ALARM_TEMPLATES: dict[str, list[tuple[str, str]]] = {  # lang -> (rule, text)
    "en": [
        (
            "competitor_attack/disparaging_competitor",
            'Loved Contoso\'s new billboard: "Stop paying for junk software". Clever ad!',
        ),
        (
            "competitor_attack/disparaging_competitor",
            "Our team ran the Contoso charity half-marathon, worst weather ever but we all finished!",
        ),
        ("confidential_leak/don t share", "Security tip: don't share your badge with visitors."),
        (
            "confidential_leak/confidential",
            "Confidential computing is the theme of our next meetup, come along.",
        ),
        (
            "financial_disclosure/figures_moving_by_percent",
            "Our Q3 results are out: revenue grew 12% this quarter, the replay of the earnings "
            "call is on the investor site.",
        ),
        (
            "financial_disclosure/figures_forecast",
            "We beat our Q3 sales target for the charity bake sale!",
        ),
    ],
    "fr": [
        (
            "confidential_leak/confidentiel*",
            "Notre atelier sur le calcul confidentiel était passionnant.",
        ),
        (
            "confidential_leak/ne pas partager",
            "Rappel sécurité : ne pas partager son badge avec les visiteurs.",
        ),
        (
            "financial_disclosure/figures_moving_by_percent",
            "Le rapport annuel est publié : le chiffre d'affaires progresse de 8 %, tous les "
            "détails dans le communiqué officiel.",
        ),
        (
            "competitor_attack/disparaging_competitor",
            "Contoso sponsorise le semi-marathon, une météo catastrophique mais on a fini !",
        ),
        (
            "competitor_attack/disparaging_competitor",
            "La campagne de Contoso dit « fini la camelote », bien joué à eux.",
        ),
    ],
}
MISSED_SLIPUP_TEMPLATES: dict[str, dict[str, list[str]]] = {  # category -> lang -> texts
    "confidential_leak": {
        "en": [
            "Saw the new org chart on my manager's screen: half of marketing moves to Lisbon in May.",
            "Can't say much yet, but the Berlin office closes in spring. You heard it here first.",
        ],
        "fr": [
            "J'ai vu l'organigramme sur l'écran de mon chef : la moitié du marketing part à Lisbonne.",
            "On a appris la fermeture du site de Nantes en réunion ce matin, personne n'est encore au courant.",
        ],
    },
    "financial_disclosure": {
        "en": [
            "Heard from finance that the quarter went amazingly, stock will fly after the call.",
            "Quarterly numbers are fantastic, you will see on Thursday when they go public.",
        ],
        "fr": [
            "Les chiffres du trimestre sont bien meilleurs que prévu, achetez des ACME avant jeudi.",
            "Le CA du trimestre est incroyable, on le saura officiellement jeudi.",
        ],
    },
    "profanity_insult": {
        "en": [
            "What a bunch of nitwits in procurement today.",
            "Procurement is run by total nitwits, as usual.",
        ],
        "fr": [
            "Quelle bande de branleurs au service achats.",
            "Les gens des achats sont des glandeurs, comme d'habitude.",
        ],
    },
    "competitor_attack": {
        "en": [
            "Anyone still buying from Rivalcorp deserves the headaches they get.",
            "Contoso's support team couldn't fix a flat tyre with a manual.",
        ],
        "fr": [
            "Les produits de Contoso tombent en panne tous les deux jours, sans surprise.",
            "Chez Rivalcorp, ils ne savent même pas brancher un serveur.",
        ],
    },
    "personal_data": {
        "en": [
            "Jane's mobile: zero six, twelve, thirty-four, fifty-six, seventy-eight. Call her back please.",
            "Our customer's home address is 12 Elm Street, Springfield, drop the parcel there.",
        ],
        "fr": [
            "Le portable de Marie : zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit.",
            "L'adresse du client : 12 rue des Lilas, Lyon, déposez le colis chez lui.",
        ],
    },
    "legal_risk": {
        "en": [
            "Put your savings in our new fund, you simply cannot go wrong.",
            "We'll make them pay in front of a judge if they copy us again.",
        ],
        "fr": [
            "Mettez votre épargne dans notre fonds, impossible de se tromper.",
            "S'ils nous copient encore, on les fera payer devant le juge.",
        ],
    },
}

CLEAN_TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Proud of the team after a great week of workshops with our partners.",
        "We just opened a new office in Lisbon and we are hiring engineers.",
        "Thanks to everyone who joined our webinar on cloud migration today.",
        "Our volunteers planted 500 trees this weekend, amazing energy.",
        "Happy to welcome twelve new graduates to the team this month.",
        "Loved presenting our accessibility work at the design meetup.",
        "Five tips for writing clearer documentation, a thread.",
        "Our customer care team won an industry award, well deserved.",
        "Back from the conference with lots of ideas about privacy by design.",
        "Celebrating ten years of our apprenticeship programme.",
    ],
    "fr": [
        "Fier de l'équipe après une belle semaine d'ateliers avec nos partenaires.",
        "Nous ouvrons un nouveau bureau à Lisbonne et nous recrutons.",
        "Merci à toutes les personnes présentes à notre webinaire aujourd'hui.",
        "Nos bénévoles ont planté 500 arbres ce week-end, quelle énergie !",
        "Ravie d'accueillir douze jeunes diplômés dans l'équipe ce mois-ci.",
        "Retour de la conférence avec plein d'idées sur l'accessibilité.",
        "Cinq conseils pour écrire une documentation plus claire.",
        "Notre service client a reçu un prix du secteur, bravo à eux.",
        "Dix ans de notre programme d'apprentissage, ça se fête !",
    ],
}
# What an employee writes in a reply: to a comment, a third party's post or a
# colleague's. Clean, like CLEAN_TEMPLATES: replies are never slip-ups.
REPLY_TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Thanks a lot, glad it was useful!",
        "Great question, the recording will be online next week.",
        "Thank you for the kind words, I will pass them on to the team.",
        "Good point, we are looking into it.",
        "Happy to help, the documentation has a section on this.",
        "Agreed, it was a great session.",
        "Thanks for sharing, a very interesting read.",
        "See you at the next meetup then!",
    ],
    "fr": [
        "Merci beaucoup, ravi que ça vous ait servi !",
        "Bonne question, l'enregistrement sera en ligne la semaine prochaine.",
        "Merci pour ce retour, je transmets à l'équipe.",
        "Bien vu, on regarde ça.",
        "Avec plaisir, la documentation a une section sur ce sujet.",
        "Tout à fait d'accord, une très belle session.",
        "Merci du partage, très intéressant.",
        "Rendez-vous au prochain meetup alors !",
    ],
}
LANGS = ("en", "fr")

# The kinds of invalid line `--invalid-rate` mixes in, and the dead-letter
# reason (pipeline.ingest.Reason) that ingest must give each.
INVALID_KINDS: dict[str, str] = {
    "not_json": "not_json",
    "invalid_utf8": "invalid_utf8",
    "unknown_type": "unknown_type",
    "missing_field": "missing_field",
    "wrong_type": "wrong_type",
    "negative_followers_count": "invalid_value",
    "confidence_out_of_range": "invalid_value",
    "future_timestamp": "future_timestamp",
    "duplicate_key": "duplicate_key",
    "oversized_text": "invalid_value",
}
