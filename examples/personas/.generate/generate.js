// Writes ../personas/*.json the way the studio's personaService saves them
// (JSON.stringify(persona, null, 2) + "\n") and ../prompts/*.prompty, which people write by hand
// in an editor (one of them on Windows, so with CRLF line endings).
// Run: node examples/personas/.generate/generate.js
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");

const personas = {
  "lena-weber.json": {
    id: "lena-weber",
    name: "Lena Weber",
    role: "Produktmanagerin",
    description: "Verantwortet eine B2B-SaaS-Plattform für Logistik und entscheidet über neue Tools.",
    demographics: { age: 34, location: "München", occupation: "Product Manager", education: "M.Sc. Wirtschaftsinformatik" },
    personality: { traits: ["analytisch", "ungeduldig bei Meetings"], communicationStyle: "knapp, datengetrieben" },
    goals: ["Time-to-Market verkürzen", "Weniger Tool-Wildwuchs im Team"],
    painPoints: ["Zu viele manuelle Übergaben", "Unklare Roadmap-Prioritäten"],
    tags: ["b2b", "saas", "entscheiderin"],
    avatar: "avatars/lena.png",
    createdAt: "2025-03-01T09:14:07.532Z",
    updatedAt: "2025-03-18T15:40:22.006Z",
  },
  "zhang-wei.json": {
    id: "zhang-wei",
    name: "张伟 (Zhang Wei)",
    role: "独立开发者",
    description: "在深圳做跨境电商小程序的独立开发者，关注成本和部署速度。",
    demographics: { age: 28, location: "深圳", occupation: "Indie Developer" },
    personality: { traits: ["务实", "好奇"], communicationStyle: "直接" },
    goals: ["一个人维护三个产品", "降低云服务费用"],
    painPoints: ["文档只有英文"],
    tags: ["indie", "e-commerce"],
    createdAt: "2025-03-04T02:51:33.100Z",
    updatedAt: "2025-03-04T02:51:33.100Z",
    language: "zh-CN",
  },
  "juergen-oeztuerk.json": {
    id: "juergen-oeztuerk",
    name: "Jürgen Öztürk",
    role: "Schichtleiter Fertigung",
    description: "Führt 40 Leute in drei Schichten; Technik muss auch mit Handschuhen bedienbar sein.",
    demographics: { age: 51, location: "Köln-Porz", occupation: "Shift Supervisor", education: null },
    personality: { traits: ["pragmatisch", "skeptisch gegenüber Apps"], communicationStyle: "mündlich, per Funk" },
    goals: ["Ausfälle früh erkennen"],
    painPoints: ["Tablets spiegeln in der Halle", "Passwörter vergessen"],
    tags: [],
    avatar: null,
    createdAt: "2025-03-06T11:00:00.000Z",
    updatedAt: "2025-04-02T07:30:45.918Z",
  },
  // Generated from an interview transcript; the generator left demographics out entirely.
  "sam-rivera.json": {
    id: "sam-rivera",
    name: "Sam Rivera",
    role: "UX Researcher",
    description: "Runs remote usability studies for a fintech; needs quotes and clips fast.",
    personality: { traits: ["empathetic", "methodical"], communicationStyle: "storytelling" },
    goals: ["Share findings within 24 h of a session"],
    painPoints: ["Transcripts are scattered across tools"],
    tags: ["research", "fintech"],
    createdAt: "2025-04-10T17:25:12.000Z",
    updatedAt: "2025-04-10T17:25:12.000Z",
    sourceInterview: "interviews/2025-04-09-sam.md",
  },
  // An early persona whose demographics were cleared in the editor (explicit null).
  "test-persona.json": {
    id: "test-persona",
    name: "Test Persona",
    role: null,
    description: "Placeholder used by the e2e tests.",
    demographics: null,
    personality: null,
    goals: [],
    painPoints: [],
    tags: ["test"],
    createdAt: "2025-02-27T08:00:00.000Z",
    updatedAt: "2025-02-27T08:00:00.000Z",
  },
};

const prompts = {
  "customer-interview.prompty": {
    crlf: false,
    text: `---
name: Customer Interview
description: Simulates a customer interview in the voice of a persona.
authors:
  - Lena Weber
  - Sam Rivera
version: 1.2
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-4o
    api_version: 2024-10-21
  parameters:
    max_tokens: 800
    temperature: 0.7
inputs:
  persona:
    type: object
  question:
    type: string
    default: What does a normal working day look like for you?
sample:
  persona:
    name: Lena Weber
    role: Produktmanagerin
  question: Wie entscheidest du, welches Tool dein Team bekommt?
---
system:
You are {{persona.name}}, {{persona.role}}. Stay in character and answer in the language of the question.
Speak about your goals and frustrations honestly; never mention that you are an AI.

user:
{{question}}
`,
  },
  "feature-feedback.prompty": {
    // Written on Windows: every line ends in CRLF, the body included.
    crlf: true,
    text: `---
name: Feature-Feedback
description: Bewertet eine Feature-Idee aus Sicht einer Persona – mit Begründung.
authors:
  - Jürgen Öztürk
model:
  api: chat
  configuration:
    type: openai
    name: gpt-4o-mini
  parameters:
    max_tokens: 400
    temperature: 0.2
    response_format:
      type: json_object
inputs:
  persona:
    type: object
  feature:
    type: string
template: jinja2
---
system:
Du bist {{persona.name}} ({{persona.role}}).
Bewerte die folgende Feature-Idee von 1 bis 5 und begründe kurz.
Antworte als JSON: {"score": <1-5>, "begründung": "..."}

user:
{{feature}}
`,
  },
  "persona-summary.prompty": {
    crlf: false,
    text: `---
# Used by the "summarize" button in the persona editor.
name: Persona-Zusammenfassung 摘要
description: >
  Fasst eine Persona in drei Sätzen zusammen,
  auf Deutsch oder Chinesisch.
model:
  api: chat
  configuration:
    type: openai
    name: gpt-4o-mini
  parameters:
    max_tokens: 200
inputs:
  persona:
    type: object
  language:
    type: string
    default: de
sample:
  language: zh
---
system:
Summarize the persona below in exactly three sentences in {{language}}.
用户画像 / Persona:
{{persona}}
`,
  },
};

const personaDir = path.join(root, "personas");
fs.mkdirSync(personaDir, { recursive: true });
for (const [file, persona] of Object.entries(personas)) {
  fs.writeFileSync(path.join(personaDir, file), JSON.stringify(persona, null, 2) + "\n");
}

const promptDir = path.join(root, "prompts");
fs.mkdirSync(promptDir, { recursive: true });
for (const [file, { crlf, text }] of Object.entries(prompts)) {
  fs.writeFileSync(path.join(promptDir, file), crlf ? text.replace(/\n/g, "\r\n") : text);
}
