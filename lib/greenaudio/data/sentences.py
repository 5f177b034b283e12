"""Public-domain English sentences for the offline speech corpus (written for this project; dedicated to the public domain).

Used by: :func:`greenaudio.data.espeak.build_speech_corpus`.

:data:`SENTENCES` holds 320 short sentences (8 to 15 words): 80 written by hand, and 240 made deterministically from
small phrase lists (:func:`_templated`), so that the corpus has varied phonetic content with no text downloaded.
The order is fixed: it defines the corpus's file list, hence its train/test split.
"""

from __future__ import annotations

__all__ = ["SENTENCES"]

_HANDWRITTEN = (
    "The old lighthouse keeper climbed the stairs every evening at dusk.",
    "A gentle rain fell on the quiet village all through the night.",
    "She packed three apples, a blanket and a map before leaving.",
    "The river widened as it approached the sea.",
    "Nobody expected the little boat to cross the bay so quickly.",
    "He wrote a long letter to his brother in the mountains.",
    "The museum opens at nine and closes at half past five.",
    "Bright yellow flowers covered the hill after the storm.",
    "Our train was delayed because of snow on the tracks.",
    "The children built a castle of sand near the water.",
    "Please remember to close the window before you go to sleep.",
    "The baker sold every loaf of bread before noon.",
    "A small grey cat waited patiently by the kitchen door.",
    "They measured the length of the bridge with a long rope.",
    "The orchestra tuned their instruments while the audience whispered.",
    "Thick fog hid the harbour for most of the morning.",
    "My grandmother kept a garden full of herbs and roses.",
    "The engineer checked each valve twice before starting the pump.",
    "Seven geese flew low over the frozen lake.",
    "He found an old coin buried under the oak tree.",
    "The library was silent except for the ticking of a clock.",
    "We walked along the cliffs until the sun went down.",
    "The doctor listened carefully and wrote a short note.",
    "A strong wind pushed the clouds towards the east.",
    "The farmer counted his sheep as they entered the field.",
    "Fresh coffee was served in white cups on the terrace.",
    "The students asked many questions about the distant planets.",
    "Her voice carried clearly across the crowded square.",
    "The carpenter chose a piece of pine for the new shelf.",
    "Lanterns glowed along the path leading to the temple.",
    "Every winter the pond froze solid for several weeks.",
    "The captain ordered the crew to raise the sails.",
    "A curious fox watched us from the edge of the forest.",
    "They painted the fence blue to match the shutters.",
    "The market was busy with people buying fruit and fish.",
    "He practised the violin for an hour every afternoon.",
    "The bridge was closed while workers repaired the road.",
    "Soft music drifted from an open window upstairs.",
    "The hikers rested beside a cold mountain stream.",
    "She solved the puzzle faster than anyone else in the room.",
    "The clock tower struck twelve as the guests arrived.",
    "Heavy books filled every shelf in the narrow study.",
    "The pilot announced that the weather ahead was calm.",
    "A pair of swans glided slowly across the pond.",
    "The tailor measured the sleeves and marked them with chalk.",
    "We could hear the waves breaking against the rocks.",
    "The teacher drew a large triangle on the board.",
    "Warm bread and soup were waiting for the tired travellers.",
    "The gardener planted tulips in neat rows by the wall.",
    "An owl called softly from the top of the barn.",
    "The newspaper reported a sudden change in the weather.",
    "Two friends shared an umbrella on the walk home.",
    "The chemist poured the clear liquid into a glass flask.",
    "Morning light filled the kitchen with a golden glow.",
    "The mayor thanked the volunteers for their hard work.",
    "He forgot his keys and had to climb through the window.",
    "The valley was green and full of grazing horses.",
    "She hummed a familiar tune while she washed the dishes.",
    "The ship's bell rang three times in the darkness.",
    "A narrow lane led down to the fishing harbour.",
    "The scientist recorded the temperature every ten minutes.",
    "Autumn leaves gathered in piles along the pavement.",
    "The actors bowed as the curtain slowly came down.",
    "Our neighbour lent us a ladder to reach the roof.",
    "The lamp flickered and then went out completely.",
    "A long queue formed outside the new bakery.",
    "The kettle whistled just as the phone began to ring.",
    "They crossed the desert in a caravan of camels.",
    "The poet read his verses aloud to a small audience.",
    "Snow covered the rooftops like a thick white blanket.",
    "The mechanic wiped his hands and closed the bonnet.",
    "A thin path wound between the tall pine trees.",
    "The judge asked the witness to speak more slowly.",
    "We found shelter in a cave when the thunder started.",
    "The choir sang softly in the old stone church.",
    "Her bicycle had a basket full of wild flowers.",
    "The explorers followed the river far into the jungle.",
    "A dozen candles lit the long wooden table.",
    "The shop on the corner sells maps, stamps and postcards.",
    "At last the long journey came to a peaceful end.",
)

_SUBJECTS = (
    "The young sailor", "My oldest friend", "A tired musician", "The village doctor", "Our new neighbour",
    "The quiet librarian", "A patient fisherman", "The cheerful baker", "An old shepherd", "The clever student",
    "A travelling painter", "The careful builder",
)
_ACTIONS = (
    "carried a heavy basket", "opened the wooden gate", "watched the evening sky", "repaired the broken chair",
    "followed the narrow road", "found a silver ring", "crossed the busy street", "planted a row of beans",
    "read an old newspaper", "climbed the steep hill",
    "cleaned the dusty windows", "visited the northern coast", "painted a small boat", "bought fresh oranges",
    "sang a cheerful song", "counted the golden coins", "closed the heavy door", "drew a map of the island",
    "waited for the morning bus", "fed the hungry ducks",
)
_ENDINGS = (
    "before the sun went down.", "on a cold winter morning.", "near the edge of the town.",
    "without saying a single word.", "while the bells were ringing.", "after a long day of work.",
    "in the middle of the night.", "beside the calm blue lake.",
)


def _templated(count: int) -> tuple[str, ...]:
    """``count`` sentences combining subject, action and ending lists with co-prime strides (deterministic, no repeats)."""
    out = []
    seen = set()
    i = 0
    while len(out) < count:
        sentence = " ".join(
            (_SUBJECTS[i % len(_SUBJECTS)], _ACTIONS[(7 * i) % len(_ACTIONS)], _ENDINGS[(3 * i + i // 40) % len(_ENDINGS)])
        )
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
        i += 1
    return tuple(out)


SENTENCES: tuple[str, ...] = _HANDWRITTEN + _templated(240)
