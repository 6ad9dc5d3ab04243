// One MongoDB user per service, each with readWrite on its own database only (the
// gateway has none). mongo:7 runs this once, when the mongo-data volume is first
// initialised, as the root user (docker-entrypoint-initdb.d). Passwords come from the
// environment compose passes to the mongo container.
const prefix = process.env.MONGO_DB ? `${process.env.MONGO_DB}_` : "";
const admin = db.getSiblingDB("admin");
const users = [
  ["auth", "auth", process.env.MONGO_AUTH_PASSWORD],
  ["sessions", "sessions", process.env.MONGO_SESSIONS_PASSWORD],
  ["agent-worker", "agent", process.env.MONGO_AGENT_PASSWORD],
];
for (const [user, database, password] of users) {
  if (!password) {
    throw new Error(`no password for the MongoDB user ${user}`);
  }
  admin.createUser({ user, pwd: password, roles: [{ role: "readWrite", db: prefix + database }] });
}
