// Writes ../db.json the way json-server (lowdb) writes it: JSON.stringify(db, null, 2).
// Checked by hand with `npx json-server@0.17.4 --watch db.json` (GET /posts?_embed=comments).
//
// users (id), posts (id, userId → users, nested author object repeated per user),
// comments (postId → posts; userId with one id that has no user: a dangling reference),
// profile (an object: a document), tags (an array of strings: kept verbatim).
const fs = require("fs");
const path = require("path");

const users = [
  { id: 1, name: "Leanne Graham", username: "Bret", email: "Sincere@april.biz" },
  { id: 2, name: "Ervin Howell", username: "Antonette", email: "Shanna@melissa.tv" },
  { id: 3, name: "Clementine Bauch", username: "Samantha", email: "Nathan@yesenia.net" },
];
const posts = [];
for (let i = 1; i <= 9; i++) {
  const u = users[(i - 1) % 3];
  posts.push({
    id: i,
    userId: u.id,
    title: `post ${i}`,
    body: `body of post ${i}`,
    author: { id: u.id, name: u.name },
    published: i % 4 !== 0,
    createdAt: new Date(Date.UTC(2024, 0, i, 8, 30)).toISOString(),
  });
}
const comments = [];
for (let i = 1; i <= 12; i++) {
  comments.push({ id: i, postId: 1 + (i % 9), userId: i === 12 ? 99 : 1 + (i % 3), body: `comment ${i}` });
}
const db = {
  users,
  posts,
  comments,
  profile: { name: "typicode", theme: "dark" },
  tags: ["news", "tech"],
};
fs.writeFileSync(path.join(__dirname, "..", "db.json"), JSON.stringify(db, null, 2));
