// Writes ../data/courses.json and ../data/stats.json the way the LernPfad AI server does:
// JSON.stringify(data, null, 2) plus a newline.  Run: node examples/lernpfad/.generate/generate.js
const fs = require("fs");
const path = require("path");

const quizBruch = [
  {
    question: "Welcher Bruch ist größer: 3/4 oder 2/3?",
    options: ["3/4", "2/3", "Beide sind gleich groß"],
    answerIndex: 0,
    explanation: "Auf den Hauptnenner 12 gebracht: 9/12 > 8/12.",
  },
  {
    question: "Kürze 12/18 vollständig.",
    options: ["6/9", "2/3", "4/6"],
    answerIndex: 1,
    explanation: "ggT(12, 18) = 6, also 12/18 = 2/3.",
  },
];

const courses = [
  {
    id: "bruchrechnung-grundlagen",
    title: "Bruchrechnung für Einsteiger",
    description: "Brüche verstehen, kürzen, erweitern und vergleichen – mit vielen Übungen.",
    category: "Mathematik",
    difficulty: "Anfänger",
    language: "de",
    estimatedHours: 4,
    createdAt: "2024-03-02T08:15:30.512Z",
    updatedAt: "2024-05-17T16:03:11.004Z",
    modules: [
      {
        id: "m1",
        title: "Was ist ein Bruch?",
        description: "Zähler, Nenner und Bruchstrich anschaulich erklärt.",
        lessons: [
          {
            id: "m1-l1",
            title: "Pizza, Kuchen und Brüche",
            type: "text",
            content: "# Pizza, Kuchen und Brüche\n\nTeilt man eine Pizza in **8 gleich große Stücke** und isst 3 davon, hat man 3/8 der Pizza gegessen.\n\n- Der **Zähler** (3) zählt die Stücke.\n- Der **Nenner** (8) nennt die Größe der Stücke.",
            durationMinutes: 12,
            completed: true,
          },
          {
            id: "m1-l2",
            title: "Brüche am Zahlenstrahl",
            type: "exercise",
            content: "Markiere 1/4, 1/2 und 3/4 auf dem Zahlenstrahl von 0 bis 1.",
            durationMinutes: 15,
            completed: true,
            quiz: null,
          },
        ],
      },
      {
        id: "m2",
        title: "Kürzen und Erweitern",
        description: null,
        lessons: [
          {
            id: "m2-l1",
            title: "Der größte gemeinsame Teiler",
            type: "text",
            content: "Zum Kürzen teilt man Zähler und Nenner durch dieselbe Zahl, am besten durch den ggT.",
            durationMinutes: 10,
            completed: false,
          },
          {
            id: "m2-l2",
            title: "Quiz: Brüche vergleichen",
            type: "quiz",
            content: "Beantworte die Fragen. Du brauchst 2 von 2 richtigen Antworten.",
            durationMinutes: 8,
            completed: false,
            quiz: quizBruch,
          },
        ],
      },
    ],
  },
  {
    id: "chinesisch-a1-schriftzeichen",
    title: "Chinesisch A1: Die ersten 50 Schriftzeichen",
    description: "Von 你好 bis 谢谢: Grundwortschatz, Pinyin und Strichfolge.",
    category: "Sprachen",
    difficulty: "Anfänger",
    language: "zh",
    estimatedHours: 6.5,
    createdAt: "2024-04-11T19:02:44.871Z",
    modules: [
      {
        id: "m1",
        title: "Begrüßungen",
        description: "你好、早上好、再见",
        lessons: [
          {
            id: "m1-l1",
            title: "你好 – nǐ hǎo",
            type: "text",
            content: "你 (nǐ) bedeutet „du“, 好 (hǎo) bedeutet „gut“. Zusammen: Hallo!",
            durationMinutes: 9,
            completed: true,
            audio: "audio/ni-hao.mp3",
          },
          {
            id: "m1-l2",
            title: "Zahlen 一 bis 十",
            type: "quiz",
            content: "Ordne die Schriftzeichen den Zahlen zu.",
            durationMinutes: 11,
            completed: true,
            quiz: [
              { question: "Welche Zahl ist 三?", options: ["2", "3", "4"], answerIndex: 1 },
              { question: "Wie schreibt man 10?", options: ["十", "千", "八"], answerIndex: 0 },
            ],
          },
        ],
      },
      {
        id: "m2",
        title: "Essen und Trinken",
        lessons: [
          {
            id: "m2-l1",
            title: "Im Restaurant: 我要一杯茶",
            type: "exercise",
            content: "Bestelle auf Chinesisch einen Tee (茶, chá) und eine Schale Reis (米饭, mǐfàn).",
            durationMinutes: 20,
            completed: false,
            quiz: null,
          },
        ],
      },
      {
        id: "m3",
        title: "Wiederholung",
        description: "Alle Zeichen aus Modul 1 und 2.",
        lessons: [],
      },
    ],
  },
  {
    id: "photosynthese",
    title: "Photosynthese verstehen",
    description: null,
    category: "Biologie",
    difficulty: "Mittel",
    language: "de",
    estimatedHours: 2.25,
    createdAt: "2024-05-20T07:45:00.000Z",
    updatedAt: null,
    modules: [
      {
        id: "m1",
        title: "Licht, Wasser, CO₂",
        description: "6 CO₂ + 6 H₂O → C₆H₁₂O₆ + 6 O₂",
        lessons: [
          {
            id: "m1-l1",
            title: "Die Summengleichung",
            type: "text",
            content: "Pflanzen bauen mit Lichtenergie aus Kohlenstoffdioxid und Wasser Glucose auf.\nDabei wird Sauerstoff frei.",
            durationMinutes: 14,
            completed: false,
          },
          {
            id: "m1-l2",
            title: "Lichtabhängige Reaktion",
            type: "text",
            content: "Findet in den Thylakoidmembranen der Chloroplasten statt.",
            durationMinutes: 16,
            completed: false,
          },
          {
            id: "m1-l3",
            title: "Quiz: Photosynthese",
            type: "quiz",
            content: "Kurzer Wissenscheck.",
            durationMinutes: 5,
            completed: false,
            quiz: [
              {
                question: "Wo findet die Photosynthese statt?",
                options: ["Mitochondrien", "Chloroplasten", "Zellkern"],
                answerIndex: 1,
                explanation: "Chloroplasten enthalten das Chlorophyll.",
              },
            ],
          },
        ],
      },
    ],
  },
  // Imported through the AiImportModal: the model wrote the keys in its own order and added
  // fields the app does not know (they are kept in _extra).
  {
    title: "Git für Teams",
    id: "git-fuer-teams",
    modules: [
      {
        title: "Branches und Merges",
        id: "m1",
        lessons: [
          {
            title: "Feature-Branches",
            id: "m1-l1",
            type: "text",
            content: "`git switch -c feature/login` legt einen neuen Branch an und wechselt hinein.",
            durationMinutes: 7,
            completed: false,
          },
          {
            title: "Merge-Konflikte lösen",
            id: "m1-l2",
            type: "exercise",
            content: "Löse den Konflikt in `README.md` und schließe den Merge mit `git commit` ab.",
            durationMinutes: 25,
            completed: false,
            hints: ["git status zeigt betroffene Dateien", "Konfliktmarker: <<<<<<<, =======, >>>>>>>"],
          },
        ],
      },
    ],
    description: "Zusammenarbeit mit Branches, Pull Requests und Code-Reviews.",
    category: "Informatik",
    difficulty: "Fortgeschritten",
    language: "de",
    estimatedHours: 3,
    createdAt: "2024-06-09T21:12:05.330Z",
    aiModel: "gpt-4o-mini",
    emoji: "🌿",
  },
];

const stats = {
  xp: 1240,
  level: 4,
  streak: 12,
  longestStreak: 19,
  completedCourses: ["bruchrechnung-grundlagen"],
  completedLessons: 7,
  lastActivity: "2024-06-11T19:42:05.118Z",
  dailyGoalMinutes: 15,
  badges: [
    { id: "erste-schritte", earnedAt: "2024-03-02T09:01:12.000Z" },
    { id: "woche-am-stueck", earnedAt: "2024-03-09T18:30:00.000Z" },
  ],
};

const dir = path.join(__dirname, "..", "data");
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, "courses.json"), JSON.stringify(courses, null, 2) + "\n");
fs.writeFileSync(path.join(dir, "stats.json"), JSON.stringify(stats, null, 2) + "\n");
