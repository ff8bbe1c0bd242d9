# gnuplot: throughput and CPU per GiB of one 1 GiB curl -T per server, from bench/speed.sh's data
#   gnuplot -e "data='build-bench/speed.dat'; out='docs/speed.svg'" bench/speed.gp
set terminal svg size 900,360 dynamic font "sans,12" background rgb "white"
set output out
set multiplot layout 1,2 title "One 1 GiB curl -T upload to tmpfs, 2 cores (medians; bench/speed.sh)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set grid ytics
set key off
set xtics noenhanced
set yrange [0:*]
set title "throughput, MB/s (higher is better)"
plot data using 2:xtic(1) skip 1 linecolor rgb "#3a7bd5"
set title "server CPU-seconds per GiB (lower is better)"
plot data using 3:xtic(1) skip 1 linecolor rgb "#d5563a"
unset multiplot
