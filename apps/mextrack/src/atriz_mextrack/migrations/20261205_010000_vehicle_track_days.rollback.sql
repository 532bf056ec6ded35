DROP TRIGGER positions_note_track_days ON positions;
DROP FUNCTION note_track_days();
DROP TABLE vehicle_track_days;
