# F1b remains: an entitled admin's predicate that fails on a value; a second admin
# that may not read the column reads the value (error text) or the user (error_user_id)
P="psql -X"
$P -U r20_admin -c "SELECT segmentation.define_segment('tier', 'x', 'plan::int > 0')"
$P -c "SELECT segmentation.refresh(as_of => '2024-05-10 12:00')" 2>&1 | head -2
$P -U r20_admin2 -c "SELECT segmentation._attribute_readable('r20_admin2', 'plan') AS admin2_may_read_plan" \
   -c "SELECT id, error, error_user_id FROM segmentation.refresh_runs WHERE error IS NOT NULL ORDER BY id DESC LIMIT 1"
