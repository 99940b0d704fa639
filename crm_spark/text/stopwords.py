"""Frequent function words of seven languages, for ``redact.language_of``.

Short lists of words that are frequent in one language and rare in the others' texts; a few
are shared (``de``, ``en``, ``la``, ``no``), which is why a tag needs a clear winner: "no" is
as English as it is Spanish, and counting it for Spanish alone tagged English complaints
("No refund ... and no answer") as ``es``.
"""

STOP_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("the", "and", "is", "are", "was", "were", "i", "you", "my", "it", "this", "that", "not",
           "have", "has", "with", "for", "of", "to", "me", "we", "they", "be", "been", "but", "your",
           "what", "please", "can", "would", "will", "on", "at", "an", "very", "just", "so", "there",
           "no"),
    "de": ("der", "die", "das", "und", "ist", "nicht", "ich", "sie", "es", "ein", "eine", "mit",
           "auf", "für", "von", "zu", "den", "dem", "wir", "mein", "meine", "bitte", "aber", "noch",
           "wurde", "habe", "kein", "keine", "sehr", "auch", "sind", "war"),
    "fr": ("le", "la", "les", "et", "est", "je", "vous", "il", "pas", "une", "un", "des", "du",
           "pour", "dans", "avec", "que", "qui", "ne", "mon", "ma", "mes", "sur", "ce", "cette",
           "au", "été", "très", "merci", "mais", "j'ai", "c'est"),
    "es": ("el", "la", "los", "las", "y", "es", "que", "no", "un", "una", "por", "para", "con",
           "mi", "lo", "del", "se", "está", "pero", "muy", "gracias", "yo", "su", "como", "han"),
    "it": ("il", "lo", "gli", "le", "e", "è", "che", "non", "un", "una", "per", "con", "mio",
           "mia", "di", "del", "della", "sono", "ho", "ma", "molto", "grazie", "questo", "ancora"),
    "nl": ("de", "het", "een", "en", "is", "niet", "ik", "je", "van", "op", "met", "voor", "dat",
           "die", "zijn", "mijn", "maar", "wel", "ook", "geen", "bij", "nog", "graag", "heb"),
    "pt": ("o", "os", "as", "e", "é", "que", "não", "um", "uma", "para", "com", "meu", "minha",
           "do", "da", "dos", "das", "em", "por", "mas", "muito", "obrigado", "eu", "foi"),
}
