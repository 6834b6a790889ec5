set terminal svg size 720,420 noenhanced
set output 'results/stream/synthetic_stream_shift/calls_saved.svg'
set title 'synthetic, prior_shift: cumulative teacher calls saved vs all-teacher (10 seeds)'
set xlabel 'queries'
set ylabel 'cumulative teacher calls saved vs all-teacher'
set key outside right
set grid
set datafile missing 'nan'
plot 'results/stream/synthetic_stream_shift/series.dat' index 0 using 1:4 with lines title 'online', 'results/stream/synthetic_stream_shift/series.dat' index 1 using 1:4 with lines title 'online no memory', 'results/stream/synthetic_stream_shift/series.dat' index 2 using 1:4 with lines title 'periodic', 'results/stream/synthetic_stream_shift/series.dat' index 3 using 1:4 with lines title 'periodic no monitor', 'results/stream/synthetic_stream_shift/series.dat' index 4 using 1:4 with lines title 'fit once'
