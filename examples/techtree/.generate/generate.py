"""Writes ../techtree.json with the real TinyDB package, the way TechTree's DatabaseService does
(TinyDB's JSONStorage: json.dumps with default separators and ensure_ascii, no newline).

Run (needs `pip install -r requirements.txt`, e.g. in a venv):
    python examples/techtree/.generate/generate.py
"""
import os
import random
import uuid

from tinydb import TinyDB

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "..", "techtree.json")

rng = random.Random(3)


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


if os.path.exists(PATH):
    os.remove(PATH)
db = TinyDB(PATH)

# --- users -------------------------------------------------------------------------------
users = db.table("users")
alice, juergen, temp, wang = uid(), uid(), uid(), uid()
users.insert({
    "user_id": alice,
    "email": "alice.nguyen@example.com",
    "name": "Alice Nguyen",
    "password_hash": "$2b$12$Q9m7eX1c7m1kz3yq0vC2QeT1sV6r4hJx9b8nW3aF5dL2pK7uE0yGi",
    "created_at": "2025-01-14T09:12:44.512301",
    "updated_at": "2025-01-14T09:12:44.512301",
})
users.insert({
    "user_id": juergen,
    "email": "juergen.mueller@example.de",
    "name": "Jürgen Müller",
    "password_hash": "$2b$12$7wqUuM5c0pXb1Zk2cF9eVOy4lH3nR8tA6sD1gJ0mQ2vE5xB7kC9aW",
    "created_at": "2025-01-20T18:03:05.004417",
    "updated_at": "2025-02-02T07:45:19.870002",
    "last_login": "2025-02-02T07:45:19.870002",
})
users.insert({
    "user_id": temp,
    "email": "temp-account@example.com",
    "name": "Temp",
    "password_hash": "$2b$12$abcdefghijklmnopqrstuuJ9o8i7u6y5t4r3e2w1q0p9o8i7u6y5t",
    "created_at": "2025-01-21T10:00:00.000000",
    "updated_at": "2025-01-21T10:00:00.000000",
})
users.insert({
    "user_id": wang,
    "email": "wang.fang@example.cn",
    "name": "王芳",
    "password_hash": "$2b$12$Zx8Yw7Vu6Ts5Rq4Po3Nm2.Lk1Jh0Gf9Ed8Cb7Aa6Zy5Xw4Vu3Ts2",
    "created_at": "2025-02-10T03:27:51.661920",
    "updated_at": "2025-02-10T03:27:51.661920",
})
# The temporary account was deleted again: TinyDB leaves a gap in the document ids (1, 2, 4).
users.remove(doc_ids=[3])

# --- syllabi -----------------------------------------------------------------------------
syllabi = db.table("syllabi")
ml_master, ml_alice, rust_juergen = uid(), uid(), uid()


def lesson(title, summary, duration):
    return {"title": title, "summary": summary, "duration": duration}


ml_modules = [
    {
        "week": 1,
        "title": "Foundations of Machine Learning",
        "summary": "What learning from data means; supervised vs. unsupervised learning.",
        "lessons": [
            lesson("What is Machine Learning?", "Definitions, history and typical applications.", "30 minutes"),
            lesson("The ML Workflow", "Data collection, training, evaluation, deployment.", "45 minutes"),
            lesson("Linear Regression", "Fitting a line by minimising squared error.", "60 minutes"),
        ],
    },
    {
        "week": 2,
        "title": "Classification",
        "summary": "Logistic regression, decision trees and how to evaluate classifiers.",
        "lessons": [
            lesson("Logistic Regression", "From odds to probabilities with the sigmoid.", "45 minutes"),
            lesson("Decision Trees", None, "45 minutes"),
            lesson("Precision, Recall, F1", "Choosing the right metric for imbalanced data.", "30 minutes"),
        ],
    },
]
syllabi.insert({
    "syllabus_id": ml_master,
    "user_id": None,
    "topic": "Machine Learning",
    "level": "beginner",
    "content": {
        "topic": "Machine Learning",
        "level": "beginner",
        "duration": "4 weeks",
        "learning_objectives": [
            "Explain the difference between supervised and unsupervised learning",
            "Train and evaluate a simple regression model",
        ],
        "modules": ml_modules,
    },
    "created_at": "2025-01-10T12:00:00.000000",
    "updated_at": "2025-01-10T12:00:00.000000",
})
syllabi.insert({
    "syllabus_id": ml_alice,
    "user_id": alice,
    "topic": "Machine Learning",
    "level": "beginner",
    "content": {
        "topic": "Machine Learning",
        "level": "beginner",
        "duration": "3 weeks",
        "learning_objectives": ["Understand regression and classification"],
        "modules": [
            {
                "week": 1,
                "title": "Foundations of Machine Learning",
                "summary": "Condensed for a learner with a statistics background.",
                "lessons": [
                    lesson("The ML Workflow", "Data collection, training, evaluation, deployment.", "30 minutes"),
                    lesson("Linear Regression", "Fitting a line by minimising squared error.", "45 minutes"),
                ],
            },
            {
                "week": 2,
                "title": "Classification",
                "summary": None,
                "lessons": [],
            },
        ],
        "prerequisites": ["Basic statistics", "Python"],
    },
    "created_at": "2025-01-15T08:30:27.118220",
    "updated_at": "2025-01-18T21:10:02.990713",
})
syllabi.insert({
    "syllabus_id": rust_juergen,
    "user_id": juergen,
    "topic": "Rust-Programmierung",
    "level": "advanced",
    "content": {
        "topic": "Rust-Programmierung",
        "level": "advanced",
        "duration": "6 Wochen",
        "learning_objectives": ["Ownership und Lifetimes sicher beherrschen", "Nebenläufigkeit mit async/await"],
        "modules": [
            {
                "title": "Ownership & Borrowing",
                "summary": "Wem gehört der Wert? Verschieben, leihen, zurückgeben.",
                "lessons": [
                    lesson("Lifetimes im Detail", "Warum der Compiler 'a braucht.", "90 minutes"),
                    lesson("Smart Pointer: Box, Rc, Arc", "Heap-Speicher und geteilter Besitz.", "60 minutes"),
                ],
            },
            {
                "title": "Nebenläufigkeit",
                "summary": "Threads, Kanäle und async/await – „fearless concurrency“.",
                "lessons": [
                    lesson("Send und Sync", "Welche Typen über Thread-Grenzen dürfen.", "45 minutes"),
                ],
            },
        ],
    },
    "created_at": "2025-01-22T16:44:09.000400",
    "updated_at": "2025-01-22T16:44:09.000400",
})

# --- lesson_content ----------------------------------------------------------------------
lesson_content = db.table("lesson_content")
lesson_content.insert({
    "content_id": uid(),
    "syllabus_id": ml_master,
    "module_index": 0,
    "lesson_index": 2,
    "content": {
        "exposition": "## Linear Regression\n\nWe model $y = wx + b$ and choose $w, b$ to minimise the mean squared error.",
        "exercises": [
            {"id": "ex1", "type": "multiple_choice", "question": "What does MSE stand for?",
             "options": ["Mean squared error", "Maximum sample estimate"], "correct_answer": 0},
            {"id": "ex2", "type": "short_answer", "question": "Why do we square the errors?",
             "correct_answer": None},
        ],
        "assessment_questions": [],
        "metadata": {"generated_by": "gemini-1.5-pro", "tokens": 1834, "temperature": 0.7},
    },
    "created_at": "2025-01-11T09:00:12.000001",
    "updated_at": "2025-01-11T09:00:12.000001",
})
lesson_content.insert({
    "content_id": uid(),
    "syllabus_id": rust_juergen,
    "module_index": 0,
    "lesson_index": 0,
    "content": {
        "exposition": "## Lifetimes\n\n`fn longest<'a>(x: &'a str, y: &'a str) -> &'a str` – beide Referenzen müssen mindestens so lange leben wie das Ergebnis.",
        "exercises": [],
        "assessment_questions": [{"question": "Was bedeutet 'static?", "answer": "Lebt bis zum Programmende."}],
    },
    "created_at": "2025-01-23T08:15:00.250000",
    "updated_at": "2025-01-24T11:02:33.000000",
})

# --- user_assessments --------------------------------------------------------------------
user_assessments = db.table("user_assessments")
user_assessments.insert({
    "assessment_id": uid(),
    "user_id": alice,
    "topic": "Machine Learning",
    "knowledge_level": "beginner",
    "score": 4.0,
    "question_history": [
        {"question": "What is overfitting?", "difficulty": "easy"},
        {"question": "Explain the bias-variance trade-off.", "difficulty": "medium"},
    ],
    "response_history": ["When the model memorises the training data.", "I'm not sure."],
    "created_at": "2025-01-15T08:20:00.000000",
})
user_assessments.insert({
    "assessment_id": uid(),
    "user_id": juergen,
    "topic": "Rust-Programmierung",
    "knowledge_level": "advanced",
    "score": 12,
    "question_history": [{"question": "Was ist der Unterschied zwischen &str und String?", "difficulty": "easy"}],
    "response_history": ["&str ist eine geliehene Sicht, String besitzt seinen Puffer."],
    "created_at": "2025-01-22T16:30:41.500000",
})
user_assessments.insert({
    "assessment_id": uid(),
    "user_id": None,
    "topic": "数据结构",
    "knowledge_level": "early learner",
    "score": None,
    "question_history": [],
    "response_history": [],
    "created_at": "2025-02-10T03:20:00.000000",
})

# --- user_progress -----------------------------------------------------------------------
user_progress = db.table("user_progress")
for user, syllabus, m, l, status, score, created, updated in [
    (alice, ml_alice, 0, 0, "completed", 8.5, "2025-01-16T10:00:00.000000", "2025-01-16T10:41:07.221000"),
    (alice, ml_alice, 0, 1, "in_progress", None, "2025-01-18T21:00:00.000000", "2025-01-18T21:10:02.990713"),
    (juergen, rust_juergen, 0, 0, "completed", 4.0, "2025-01-23T08:00:00.000000", "2025-01-24T11:05:00.000000"),
    (juergen, rust_juergen, 0, 1, "not_started", None, "2025-01-24T11:05:00.000000", "2025-01-24T11:05:00.000000"),
    (wang, ml_master, 0, 0, "in_progress", 12, "2025-02-10T03:30:00.000000", "2025-02-10T03:45:10.000000"),
]:
    user_progress.insert({
        "progress_id": uid(),
        "user_id": user,
        "syllabus_id": syllabus,
        "module_index": m,
        "lesson_index": l,
        "status": status,
        "score": score,
        "created_at": created,
        "updated_at": updated,
    })

db.close()
