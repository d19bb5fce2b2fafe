"""Writes ../profiles/<id>.json, one file per child profile, the way the app's ProfileStore does:
json.dump(profile, f, indent=2, ensure_ascii=False) plus a newline.

Run: python3 examples/profiles/.generate/generate.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "profiles")

profiles = [
    {
        "id": "7c1e4a2b-5d3f-4f6a-9b8e-2a1c3d4e5f60",
        "name": "Mia Schröder",
        "dob": "2019-03-14",
        "gender": "female",
        "address": "Lindenstraße 12, 10969 Berlin",
        "school": "Kita Sonnenblume",
        "neighborhood": "Kreuzberg",
        "interests": ["Dinosaurier", "Malen", "熊猫"],
        "character_roster": [
            {"name": "Pandi", "species": "panda", "role": "best friend"},
            {"name": "Herr Fuchs", "species": "fox", "role": "teacher"},
        ],
        "verbal_fluency": "fluent",
        "passive_language_level": "A2",
        "mental_age": 5.5,
        "raw_input": "Mia ist 5, spricht zu Hause Deutsch und mit Oma Mandarin. Liebt Pandas und malt gern.",
        "extracted_data": {
            "home_languages": ["de", "zh"],
            "grandparent_language": "zh",
            "reading": False,
            "favorite_animal": "panda",
        },
        "created_at": "2024-09-02T08:30:12.481920",
        "updated_at": "2024-11-03T17:05:44.019311",
        "mastered_words": [
            {"word": "熊猫", "language": "zh", "added_at": "2024-09-02T09:10:00"},
            {"word": "苹果", "language": "zh", "added_at": "2024-09-05T16:22:31"},
            {"word": "apple", "language": "en", "added_at": "2024-09-05T16:23:02"},
            {"word": "谢谢", "language": "zh", "added_at": "2024-10-12T10:01:45"},
        ],
        "mastered_grammar": [
            {"grammar_uri": "zh:measure-word/个", "added_at": "2024-10-01T15:00:00"},
            {"grammar_uri": "zh:question/吗", "added_at": "2024-10-20T15:30:10"},
        ],
        "approved_cards": [
            {
                "card_type": "vocab",
                "content": {"front": "熊猫", "back": "panda", "pinyin": "xióngmāo", "image": "cards/panda.png"},
                "approved_at": "2024-09-02T09:12:18",
            },
            {
                "card_type": "story",
                "content": {
                    "title": "Pandi geht einkaufen",
                    "pages": ["Pandi will 苹果 kaufen.", "Sie sagt: 谢谢!"],
                    "level": 2,
                },
                "approved_at": "2024-10-12T10:05:00",
                "approved_by": "parent",
            },
        ],
        "chat_messages": [
            {"role": "user", "content": "Was heißt Panda auf Chinesisch?", "timestamp": "2024-11-03T17:01:09"},
            {
                "role": "assistant",
                "content": "熊猫 (xióngmāo)! Kannst du es nachsprechen? 🐼",
                "timestamp": "2024-11-03T17:01:11",
                "model": "gpt-4o",
                "tokens": 38,
            },
            {"role": "user", "content": "xióngmāo!", "timestamp": "2024-11-03T17:01:40"},
        ],
        "avatar": "avatars/panda-pink.svg",
    },
    {
        "id": "c93b08d1-6e27-4b0f-8a55-71d2e9f0a3b4",
        "name": "Leon Bäcker",
        "dob": "2017-11-30",
        "gender": "male",
        "address": None,
        "school": "Grundschule am Mühlenweg",
        "neighborhood": None,
        "interests": ["Fußball", "Lego", "Weltraum"],
        "character_roster": [{"name": "Robo-Max", "species": "robot", "role": "co-pilot"}],
        "verbal_fluency": "fluent",
        "passive_language_level": "B1",
        "mental_age": 7.0,
        "raw_input": "Leon, 7 Jahre, 2. Klasse. Lernt Englisch in der Schule, fragt ständig nach Planeten.",
        "extracted_data": {"school_year": 2, "subjects": ["English"], "notes": None},
        "created_at": "2024-09-15T12:00:03.100000",
        "updated_at": "2024-10-28T19:44:10.552001",
        "mastered_words": [
            {"word": "rocket", "language": "en", "added_at": "2024-09-15T12:30:00"},
            {"word": "planet", "language": "en", "added_at": "2024-09-16T17:11:12"},
            {"word": "moon", "language": "en", "added_at": "2024-09-16T17:12:40"},
            {"word": "月亮", "language": "zh", "added_at": "2024-10-28T19:40:00"},
        ],
        "mastered_grammar": [
            {"grammar_uri": "en:plural/-s", "added_at": "2024-09-20T16:00:00"},
        ],
        "approved_cards": [
            {
                "card_type": "vocab",
                "content": {"front": "rocket", "back": "Rakete", "image": None},
                "approved_at": "2024-09-15T12:31:00",
            },
        ],
        "chat_messages": [
            {"role": "user", "content": "How far is the moon?", "timestamp": "2024-10-28T19:38:00"},
            {
                "role": "assistant",
                "content": "About 384,400 km! In Chinese, moon is 月亮 (yuèliang).",
                "timestamp": "2024-10-28T19:38:02",
            },
        ],
    },
    {
        "id": "f0e2d4c6-1a3b-4c5d-8e7f-90a1b2c3d4e5",
        "name": "王小雨",
        "dob": None,
        "gender": None,
        "school": "北京市第一幼儿园",
        "neighborhood": "朝阳区",
        "interests": ["唱歌", "画画"],
        "character_roster": [],
        "verbal_fluency": "emerging",
        "passive_language_level": "A1",
        "mental_age": 4,
        "raw_input": "小雨四岁，在家说普通话，刚开始学英语。",
        "extracted_data": {},
        "created_at": "2024-10-30T02:14:55.000001",
        "updated_at": "2024-10-30T02:14:55.000001",
        "mastered_words": [
            {"word": "cat", "language": "en", "added_at": "2024-10-30T02:20:00"},
            {"word": "dog", "language": "en", "added_at": "2024-10-30T02:21:13"},
        ],
        "mastered_grammar": [],
        "approved_cards": [],
        "chat_messages": [],
    },
    {
        "id": "2b9f6e3a-8c41-4d7e-b5a0-c6d8e1f2a3b4",
        "name": "Jonas Groß",
        "dob": "2018-06-01",
        "gender": "male",
        "address": "Königsallee 3, 40212 Düsseldorf",
        "school": None,
        "interests": ["Züge"],
        "character_roster": [{"name": "Lok Emma", "species": "train", "role": "friend"}],
        "verbal_fluency": "limited",
        "passive_language_level": None,
        "mental_age": None,
        "raw_input": "",
        "extracted_data": None,
        "created_at": "2024-11-01T10:00:00",
        "updated_at": "2024-11-01T10:00:00",
        "mastered_words": [],
        "mastered_grammar": [],
        "approved_cards": [],
        "chat_messages": [
            {"role": "assistant", "content": "Hallo Jonas! Magst du Züge? 🚂", "timestamp": "2024-11-01T10:00:05"},
        ],
        "pronouns": "er",
    },
]

os.makedirs(OUT, exist_ok=True)
for p in profiles:
    with open(os.path.join(OUT, p["id"] + ".json"), "w", encoding="utf-8") as f:
        json.dump(p, f, indent=2, ensure_ascii=False)
        f.write("\n")
