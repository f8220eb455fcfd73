-- The badge system's database (SQLite for the demo; PostgreSQL or any SQLAlchemy database in real life).
-- `make demo` creates data/badges.sqlite3 from this file.
CREATE TABLE badge_holders (
    badge_holder_id TEXT PRIMARY KEY,
    employee_id     TEXT,
    holder_name     TEXT,
    email           TEXT,
    badge_number    TEXT,
    active          INTEGER NOT NULL DEFAULT 1
);
INSERT INTO badge_holders VALUES ('B-1', 'E100', 'Ada Lovelace', 'ada@old-domain.example', '100100', 1);
INSERT INTO badge_holders VALUES ('B-2', 'E101', 'Grace Hopper', 'grace.hopper@example.com', '100101', 1);
INSERT INTO badge_holders VALUES ('B-3', 'E102', 'Alan Turing', 'alan.turing@example.com', '100102', 1);
INSERT INTO badge_holders VALUES ('B-4', 'E104', 'Edsger Dijkstra', 'edsger.dijkstra@example.com', '100104', 1);
