// Writes ../db.json the way json-server saves it (lowdb's JSONFile: JSON.stringify(data, null, 2),
// no trailing newline). Run: node examples/jsonserver/.generate/generate.js
const fs = require("fs");
const path = require("path");

const db = {
  posts: [
    {
      id: 1,
      title: "json-server",
      author: { name: "typicode", url: "https://github.com/typicode" },
      views: 100,
      rating: 4.5,
      published: true,
      createdAt: "2024-01-05T10:00:00.000Z",
      tags: ["rest", "mock"],
    },
    {
      id: 2,
      title: "Über JSON-Dateien und Datenbanken",
      author: { name: "Jörg Häußler", url: null },
      views: 12,
      rating: 4,
      published: true,
      createdAt: "2024-02-14T08:30:00.000Z",
      tags: ["sqlite", "json"],
    },
    // Post 3 was deleted through DELETE /posts/3 (json-server removed its comments too).
    {
      id: 4,
      title: "用 JSON Server 快速搭建接口",
      author: { name: "李娜" },
      views: 0,
      published: false,
      createdAt: "2024-03-01T12:00:00.000Z",
      tags: [],
    },
    {
      id: 5,
      title: "Draft without author",
      views: 3,
      rating: null,
      published: false,
      createdAt: "2024-03-02T09:15:27.412Z",
      tags: ["draft"],
      slug: "draft-without-author",
    },
  ],
  comments: [
    { id: 1, body: "some comment", postId: 1 },
    { id: 2, body: "Sehr hilfreich, danke! 👍", postId: 2, email: "m.mueller@example.de" },
    { id: 3, body: "写得很好！", postId: 4, email: null },
    { id: 5, body: "Does this work with --watch?", postId: 1, email: "dev@example.com", likes: 7 },
  ],
  profile: {
    name: "typicode",
    bio: "Open source developer",
    location: "Paris",
  },
};

fs.writeFileSync(path.join(__dirname, "..", "db.json"), JSON.stringify(db, null, 2));
